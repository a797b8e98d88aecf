"""The test command: `python3 scripts/test.py [pytest args]`.

Makes sure `.venv` holds the project with its `test` and `host` extras (the host is
a real Open WebUI 0.12.4, started once per session by the e2e tests) and that
Debian's Chromium is there for the browser test and Debian's PostgreSQL for the
quota test's shared database, then replaces
this process with `<venv>/bin/python -m pytest`. Without arguments it runs the
whole `tests/` tree quietly; any arguments are handed to pytest unchanged.
Runs from the repository root so pytest finds pyproject.toml's settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bootstrap import REPO_ROOT, ensure_venv  # noqa: E402

DEFAULT_ARGS = ["-q", "tests"]
# The browser test drives Debian's Chromium; Playwright's own download fails offline.
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# The quota test runs a private PostgreSQL server from Debian's binaries.
POSTGRESQL = Path("/usr/lib/postgresql")


def ensure_chromium() -> None:
    """Install Debian's Chromium for the browser test when missing and possible.

    Without it (not root, no apt-get, no network to Debian's mirror) the browser
    test skips and says why; every other test still runs.
    """
    if not CHROMIUM.exists():
        apt_install("chromium", "the browser test")


def ensure_postgresql() -> None:
    """Install Debian's PostgreSQL for tests/e2e/test_quota_e2e.py when missing.

    The test starts its own server from /usr/lib/postgresql/*/bin; without one its
    PostgreSQL half skips and says why.
    """
    if not list(POSTGRESQL.glob("*/bin/initdb")):
        apt_install("postgresql", "the PostgreSQL quota test")


def apt_install(package: str, needed_by: str) -> None:
    """`apt-get install` one Debian package when root and apt-get are there."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print(f"[test] installing Debian's {package} for {needed_by}...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
    ):
        if subprocess.run(command, env=env, **quiet).returncode != 0:
            print(f"[test] {' '.join(command)} failed: {needed_by} will skip")
            return


def main(argv: list[str]) -> None:
    python = ensure_venv(["test", "host"])
    ensure_chromium()
    ensure_postgresql()
    os.chdir(REPO_ROOT)
    args = argv or DEFAULT_ARGS
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [str(python), "-m", "pytest", *args])


if __name__ == "__main__":
    main(sys.argv[1:])
