"""The `open-webui serve` process: environment, start, health, stop."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT = 180.0

# Environment for a quiet, offline, reproducible server. Why each one:
OFFLINE_ENV: dict[str, str] = {
    # no network: no HF downloads, no pip installs of frontmatter requirements
    "OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # no built-in connections: only our pipe provides models
    "ENABLE_OLLAMA_API": "false",
    "ENABLE_OPENAI_API": "false",
    # RAG: an empty model name skips importing sentence-transformers and trying to
    # load all-MiniLM-L6-v2 at startup (-3 s, and no offline-lookup traceback)
    "RAG_EMBEDDING_MODEL": "",
    "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false",
    "RAG_RERANKING_MODEL_AUTO_UPDATE": "false",
    "ENABLE_VERSION_UPDATE_CHECK": "false",
    # telemetry off (no outgoing traffic attempts)
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    "ANONYMIZED_TELEMETRY": "false",
    # the page's socket.io transport is needed for the web path
    "ENABLE_WEBSOCKET_SUPPORT": "true",
}


# --------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------


class OpenWebUIStartError(RuntimeError):
    """The server exited or never became healthy; the message holds its log tail."""


@dataclass
class OpenWebUIProcess:
    """A running `open-webui serve`; stop it with `.stop()` (or use `with`)."""

    process: subprocess.Popen
    port: int
    data_dir: Path
    log_path: Path
    startup_seconds: float = 0.0
    _log_file: Any = None
    _owned_dirs: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait, then SIGKILL; close the log; remove temp dirs we created."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()
        for directory in self._owned_dirs:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> OpenWebUIProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port nobody listens on right now (bind to 0 and ask the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def open_webui_executable() -> Path:
    """`open-webui` next to the running interpreter (the venv's console script)."""
    candidate = Path(sys.executable).parent / "open-webui"
    if not candidate.exists():
        raise FileNotFoundError(
            f"{candidate} not found: run with the project's venv "
            "(python3 scripts/test.py installs it)"
        )
    return candidate


def server_environment(
    port: int, data_dir: Path, extra: dict[str, str] | None
) -> dict[str, str]:
    """os.environ + the offline settings + a fresh secret, then the caller's overrides."""
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "WEBUI_SECRET_KEY": secrets.token_hex(24),
            # what a real deployment sets; also silences the "CORS is '*'" warning
            "CORS_ALLOW_ORIGIN": f"http://127.0.0.1:{port};http://localhost:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def start_openwebui(
    port: int | None = None,
    data_dir: Path | str | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | str | None = None,
    timeout: float = HEALTH_TIMEOUT,
    progress: Callable[[float], None] | None = None,
    executable: Path | None = None,
) -> OpenWebUIProcess:
    """Start `open-webui serve` on 127.0.0.1 and wait until `/health` answers 200.

    `data_dir` defaults to a new temporary directory (removed by `.stop()`), so every
    start is a first start: empty database, no users, no functions. `env` entries
    override the defaults (`OFFLINE_ENV`...). The server's output goes to `log_path`
    (default: `server.log` beside the data dir). Raises `OpenWebUIStartError` with
    the last 40 log lines if the process dies or is not healthy within `timeout`.
    `progress(seconds_waited)` is called between health checks (the demo's
    progress line); an exception from it (Ctrl-C) stops the server and propagates.
    `executable` is another installation's `open-webui` (an older release for the
    host matrix); by default the one beside the running interpreter.
    """
    port = port or free_port()
    owned: list[Path] = []
    if data_dir is None:
        root = Path(tempfile.mkdtemp(prefix="openwebui-"))
        owned.append(root)
        data_dir = root / "data"
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path else data_dir.parent / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    log_file = open(log_path, "w", encoding="utf-8")
    started = time.monotonic()
    process = subprocess.Popen(
        [
            str(executable or open_webui_executable()),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=server_environment(port, data_dir, env),
        cwd=data_dir,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in the terminal does not hit it twice
    )
    server = OpenWebUIProcess(process, port, data_dir, log_path, 0.0, log_file, owned)
    try:
        wait_for_health(server, timeout, progress)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server


def wait_for_health(
    server: OpenWebUIProcess,
    timeout: float,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Poll `/health` until 200; fail early if the process exits."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if progress is not None:
            progress(time.monotonic() - started)
        if not server.running():
            raise OpenWebUIStartError(
                f"open-webui exited with code {server.process.returncode} during startup; "
                f"last log lines ({server.log_path}):\n{server.log_tail()}"
            )
        try:
            if requests.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise OpenWebUIStartError(
        f"open-webui not healthy after {timeout:.0f} s; last log lines "
        f"({server.log_path}):\n{server.log_tail()}"
    )
