"""Create and fill the project's virtualenv (`.venv` at the repository root).

Used by the README commands (`python3 scripts/test.py`, the demo...) so that a fresh
checkout needs nothing but Python 3.11+. Standard library only: it runs *before* any
dependency exists.

Why two pip steps: `open-webui` depends on `torch`. Installed first, pip would pick
the default Linux torch wheel, which pulls ~6 GB of CUDA libraries. Installing the CPU
build of torch first (`torch==2.13.0`; pip's configured find-links / index provide the
`+cpu` wheel) means open-webui finds its torch requirement already satisfied.

Re-running is fast: a stamp file inside `.venv` records a hash of `pyproject.toml`
and the requested extras; when it matches, no pip command runs at all.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".venv"
PYPROJECT = REPO_ROOT / "pyproject.toml"
TORCH_REQUIREMENT = "torch==2.13.0"
MIN_PYTHON = (3, 11)


def venv_python(venv_dir: Path = VENV_DIR) -> Path:
    """Path of the virtualenv's interpreter (POSIX and Windows layouts)."""
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def say(message: str) -> None:
    """Progress line on stderr, so it never mixes with a command's own stdout."""
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)


def stamp_path(venv_dir: Path = VENV_DIR) -> Path:
    return venv_dir / ".bootstrap-stamp"


def environment_hash() -> str:
    """Hash of what the installed set depends on, extras aside.

    Covers the dependency declaration (pyproject.toml), the torch pin and the
    interpreter version the venv was built with.
    """
    digest = hashlib.sha256()
    digest.update(PYPROJECT.read_bytes())
    digest.update(TORCH_REQUIREMENT.encode())
    digest.update(sys.version.split()[0].encode())
    return digest.hexdigest()


def recorded_extras(venv_dir: Path = VENV_DIR) -> set[str]:
    """The extras the stamp says were installed, whatever its hash."""
    try:
        text = stamp_path(venv_dir).read_text()
    except OSError:
        return set()
    return set(filter(None, text.strip().partition(" ")[2].split(",")))


def stamp_matches(extras: list[str], venv_dir: Path = VENV_DIR) -> bool:
    """True when a previous run installed at least these extras for this pyproject.

    The stamp reads `<environment hash> <extra,extra,...>`; installing the superset
    `test,host` once also satisfies a later request for just `host`.
    """
    try:
        recorded_hash, _, recorded_extras = (
            stamp_path(venv_dir).read_text().strip().partition(" ")
        )
    except OSError:
        return False
    installed = set(filter(None, recorded_extras.split(",")))
    return recorded_hash == environment_hash() and set(extras) <= installed


def write_stamp(extras: list[str], venv_dir: Path = VENV_DIR) -> None:
    stamp_path(venv_dir).write_text(
        f"{environment_hash()} {','.join(sorted(set(extras)))}\n"
    )


class PipProgress:
    """Shows that a long pip run is alive (the Open WebUI install takes minutes).

    On a terminal: one status line rewritten in place (elapsed time, packages
    collected, the current one). Elsewhere (CI logs): a line every 30 seconds.
    """

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last_line = self.started
        self.tty = sys.stderr.isatty()
        self.packages = 0
        self.current = ""
        self.width = 0

    def update(self, pip_line: str) -> None:
        words = pip_line.split()
        if len(words) > 1 and words[0] == "Collecting":
            self.packages += 1
            self.current = words[1]
        elif pip_line.startswith("Installing collected packages"):
            self.current = "(installing)"
        elapsed = int(time.monotonic() - self.started)
        plural = "" if self.packages == 1 else "s"
        status = (
            f"    {elapsed // 60}:{elapsed % 60:02d}  {self.packages} package{plural}"
        )
        if self.current:
            status += f", {self.current}"
        status = status[:78]
        if self.tty:
            print("\r" + status.ljust(self.width), end="", file=sys.stderr, flush=True)
            self.width = len(status)
        elif time.monotonic() - self.last_line >= 30:
            print(status, file=sys.stderr, flush=True)
            self.last_line = time.monotonic()

    def interrupt(self) -> None:
        """End the status line before other output."""
        if self.tty and self.width:
            print(file=sys.stderr, flush=True)
            self.width = 0


def run_pip(python: Path, args: list[str], log_path: Path) -> None:
    """Run `python -m pip install <args>`, logging everything, echoing only errors.

    The chatty output ("Collecting...", index warnings) goes to `log_path`; lines
    starting with "ERROR" are echoed to the terminal as they come. On failure the
    log's tail follows, then the process exits with pip's code.
    """
    command = [str(python), "-m", "pip", "install", "--progress-bar", "off", *args]
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        progress = PipProgress()
        for line in process.stdout:
            log.write(line)
            if line.startswith("ERROR"):
                progress.interrupt()
                print(f"    {line.rstrip()}", file=sys.stderr, flush=True)
            else:
                progress.update(line)
        returncode = process.wait()
        progress.interrupt()
    if returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        say(f"pip failed (exit {returncode}); last lines of {log_path}:")
        for line in tail:
            print(f"    {line}", file=sys.stderr)
        sys.exit(returncode)


def create_venv(venv_dir: Path = VENV_DIR) -> None:
    """`python -m venv` with the interpreter running this script."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(
            f"Python {'.'.join(map(str, MIN_PYTHON))}+ is needed, this is {sys.version.split()[0]}"
        )
    say(f"creating {venv_dir.relative_to(REPO_ROOT)}")
    subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True)


def ensure_venv(extras: list[str]) -> Path:
    """Make sure `.venv` exists with `pip install -e ".[extras]"`; return its python.

    Fast path: the stamp matches, nothing runs. Otherwise torch (CPU) is installed
    first, then the project with the extras (`test`, `host`... see pyproject.toml).
    """
    python = venv_python()
    if not python.exists():
        create_venv()
    if stamp_matches(extras):
        return python
    # Keep what an earlier run installed: the demo asking for `host` after the
    # tests installed `test,host` must not leave a stamp that only says `host`.
    extras = sorted(set(extras) | recorded_extras())

    log_path = VENV_DIR / "bootstrap-pip.log"
    say(f"installing dependencies (pip output: {log_path.relative_to(REPO_ROOT)})")
    say("installing CPU torch (1/2)...")
    run_pip(python, [TORCH_REQUIREMENT], log_path)
    spec = f".[{','.join(extras)}]" if extras else "."
    if "host" in extras:
        tools = " and test tools" if "test" in extras else ""
        say(f"installing open-webui 0.12.4{tools} (2/2), this takes 3-4 minutes...")
    else:
        say(f"installing the project with {spec} (2/2)...")
    run_pip(python, ["-e", spec], log_path)
    write_stamp(extras)
    say("dependencies ready")
    return python


if __name__ == "__main__":
    print(ensure_venv(sys.argv[1:] or ["test", "host"]))
