"""Older Open WebUI releases for the host matrix, each in a virtualenv of its own.

    python3 scripts/hosts.py                 build the venv of every host in HOSTS
    python3 scripts/hosts.py 0.6.0 0.9.6     just these releases
    python3 scripts/hosts.py --list          the hosts and where their venvs are

The pipe promises to run on every Open WebUI minor line from its
`required_open_webui_version` to the newest (SPEC "Hosts"), and
tests/hosts/test_host_matrix.py starts each host below and drives it. Installing
several Open WebUI releases with pip takes minutes and gigabytes each; uv (a test
dependency, from PyPI) shares one cache between them, so a release builds in well
under a minute (20-40 s measured here with a cold cache). torch, which Open WebUI
pulls in, comes from the machine's CPU wheel when there is one (see bootstrap.py),
never as the multi-gigabyte CUDA build.

The venvs live in `.hosts/` (ignored by git); a stamp file marks a finished build,
so a second run costs nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bootstrap import REPO_ROOT, TORCH_REQUIREMENT  # noqa: E402

HOSTS_DIR = REPO_ROOT / ".hosts"
# The oldest release the pipe supports (its required_open_webui_version), then the
# last release of each minor line, oldest first.
HOSTS = ("0.6.0", "0.6.43", "0.7.2", "0.8.12", "0.9.6", "0.10.2", "0.11.4", "0.12.4")
# Where this kind of machine keeps the CPU build of torch (pip's find-links).
TORCH_WHEELS = Path(os.environ.get("TORCH_WHEELS", "/opt/wheels"))


class HostBuildError(RuntimeError):
    """A release could not be installed; the message holds uv's last lines."""


def venv_dir(version: str) -> Path:
    return HOSTS_DIR / f"open-webui-{version}"


def executable(version: str) -> Path:
    """The release's `open-webui` command, building its venv first if needed."""
    return ensure_host(version) / "bin" / "open-webui"


def ensure_host(version: str) -> Path:
    """The venv holding Open WebUI `version`, built with uv unless already there."""
    target = venv_dir(version)
    stamp = target / ".host-stamp"
    if stamp.exists() and stamp.read_text() == version:
        return target
    if target.exists():
        shutil.rmtree(target)  # a build that did not finish
    uv = _uv()
    links = ["--find-links", str(TORCH_WHEELS)] if TORCH_WHEELS.is_dir() else []
    # The base interpreter, not the project venv's: uv resolves it either way, but
    # this keeps the host independent of the project's own packages.
    python = getattr(sys, "_base_executable", sys.executable)
    _run([uv, "venv", "--quiet", "--python", python, str(target)], version)
    _run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(target / "bin" / "python"),
            *links,
            _torch(),
            f"open-webui=={version}",
        ],
        version,
    )
    stamp.write_text(version)
    return target


def _torch() -> str:
    """torch as bootstrap.py pins it; with the local wheels, their CPU build."""
    if TORCH_WHEELS.is_dir() and any(TORCH_WHEELS.glob("torch-*+cpu-*.whl")):
        return TORCH_REQUIREMENT + "+cpu"
    return TORCH_REQUIREMENT


def _uv() -> str:
    """uv from the project venv (the `test` extra), else from PATH."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise HostBuildError(
            "uv not found: run `python3 scripts/test.py` once (it installs the test "
            "extra), or `pip install uv`"
        )
    return found


def _run(command: list[str], version: str) -> None:
    env = {**os.environ, "UV_CACHE_DIR": str(HOSTS_DIR / "uv-cache")}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise HostBuildError(f"installing Open WebUI {version} failed:\n{tail}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", help="releases (default: every host)")
    parser.add_argument("--list", action="store_true", help="list the hosts and exit")
    args = parser.parse_args(argv)
    versions = args.versions or list(HOSTS)
    for version in versions:
        if args.list:
            built = (venv_dir(version) / ".host-stamp").exists()
            print(f"{version:8} {venv_dir(version)}{'' if built else ' (not built)'}")
            continue
        print(f"[hosts] Open WebUI {version}...", flush=True)
        print(f"[hosts] {ensure_host(version)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
