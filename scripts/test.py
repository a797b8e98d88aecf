"""The test command: `python3 scripts/test.py [pytest args]`.

Makes sure `.venv` holds the project with its `test` and `host` extras (the host is
a real Open WebUI 0.12.4, started once per session by the e2e tests), then replaces
this process with `<venv>/bin/python -m pytest`. Without arguments it runs the
whole `tests/` tree quietly; any arguments are handed to pytest unchanged.
Runs from the repository root so pytest finds pyproject.toml's settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bootstrap import REPO_ROOT, ensure_venv  # noqa: E402

DEFAULT_ARGS = ["-q", "tests"]


def main(argv: list[str]) -> None:
    python = ensure_venv(["test", "host"])
    os.chdir(REPO_ROOT)
    args = argv or DEFAULT_ARGS
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [str(python), "-m", "pytest", *args])


if __name__ == "__main__":
    main(sys.argv[1:])
