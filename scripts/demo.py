"""The one-command demo: `python3 scripts/demo.py [--port 8080]`.

Starts a local Open WebUI 0.12.4 on 127.0.0.1 with the OpenAI Manifold Pipe
installed, active, configured and its models visible, then waits until Ctrl-C.

- First run: creates `.venv` if needed (Open WebUI and CPU torch, a few minutes),
  then a data directory `.demo/` in the repository, an admin account with fixed demo
  credentials (printed at the end), and the function `openai_manifold_pipe` from the
  current `openai_manifold_pipe.py`.
- Later runs reuse `.demo/`: they sign in instead of signing up and update the
  function to the current file, keeping chats, users and any valves set in the UI.
  `--fresh` deletes `.demo/` first.
- Upstream: with `OPENAI_API_KEY` in the environment (and optionally
  `OPENAI_API_BASE_URL`, default OpenAI's API) the pipe uses them as its global key,
  with ALLOW_GLOBAL_KEY_FALLBACK on so every account chats on it. Without, a bundled
  demo server (`scripts/demo_upstream.py`) answers with canned, streamed text and
  reasoning, so the demo works with no account and no network.

Ctrl-C (or SIGTERM) stops Open WebUI and the demo upstream, and nothing else.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bootstrap import REPO_ROOT, VENV_DIR, ensure_venv  # noqa: E402

DEMO_DIR = REPO_ROOT / ".demo"
PIPE_FILE = REPO_ROOT / "openai_manifold_pipe.py"
PIPE_ID = "openai_manifold_pipe"
ADMIN_NAME = "Demo Admin"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "demo-password"  # fixed on purpose: this is a local demo
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def say(message: str = "", end: str = "\n") -> None:
    print(message, end=end, flush=True)


def in_project_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV_DIR.resolve()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run Open WebUI locally with the OpenAI Manifold Pipe installed.",
        epilog="Set OPENAI_API_KEY (and optionally OPENAI_API_BASE_URL) to chat with "
        "a real endpoint; without it a bundled demo server answers.",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="Open WebUI's port (default 8080)"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="delete the demo's data (.demo/) first: new admin, no chats",
    )
    return parser.parse_args(argv)


# --------------------------------------------------------------------------------------
# Before the server
# --------------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def stop_leftover_server(pid_file: Path) -> None:
    """An earlier demo killed without cleanup may have left its server running.

    Only a process whose command line is `open-webui serve` with this demo's data
    directory in its environment is stopped, by its recorded PID.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        pid_file.unlink(missing_ok=True)
        return
    ours = any(part.endswith(b"open-webui") for part in cmdline) and (
        f"DATA_DIR={DEMO_DIR / 'data'}".encode() in environ.split(b"\0")
    )
    if not ours:
        pid_file.unlink(missing_ok=True)
        return
    say(f"stopping the Open WebUI left running by an earlier demo (PID {pid})")
    os.kill(pid, signal.SIGTERM)
    for _ in range(60):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.25)
    pid_file.unlink(missing_ok=True)


def secret_key() -> str:
    """Open WebUI's session secret, kept in .demo/ so browser logins survive a restart."""
    import secrets

    path = DEMO_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_hex(24)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


class Progress:
    """`starting Open WebUI (15-40 s)... 12 s` on a terminal, dots elsewhere."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stdout.isatty()
        self.shown = -1
        say(label, end="")

    def __call__(self, seconds: float) -> None:
        whole = int(seconds)
        if whole == self.shown:
            return
        self.shown = whole
        if self.tty:
            say(f"\r{self.label} {whole} s", end="")
        elif whole and whole % 2 == 0:
            say(".", end="")

    def done(self, seconds: float) -> None:
        if self.tty:
            say(f"\r{self.label} done in {seconds:.0f} s")
        else:
            say(f" done in {seconds:.0f} s")


# --------------------------------------------------------------------------------------
# Setting Open WebUI up, as an admin would
# --------------------------------------------------------------------------------------


def sign_in_admin(client) -> str:
    """Sign up the demo admin on a new database, sign in on an existing one."""
    from owui.client import OpenWebUIError

    try:
        client.signin(ADMIN_EMAIL, ADMIN_PASSWORD)
        return "signed in as the existing demo admin"
    except OpenWebUIError as error:
        if error.status not in (400, 401, 403):
            raise
    try:
        client.signup(ADMIN_NAME, ADMIN_EMAIL, ADMIN_PASSWORD)
    except OpenWebUIError as error:
        sys.exit(
            f"\ncannot sign in as {ADMIN_EMAIL} with the demo password, nor create "
            f"that account ({error}).\nIf you changed its password in Open WebUI, "
            "start over with: python3 scripts/demo.py --fresh"
        )
    if client.user.get("role") != "admin":
        sys.exit(
            f"\n{ADMIN_EMAIL} was created but is not an admin: the database in "
            ".demo/ already had other accounts. Start over with --fresh."
        )
    return "created the demo admin account"


def last_error(log: str) -> str:
    """The last ERROR line of Open WebUI's log, without its timestamp and location."""
    lines = [line for line in log.splitlines() if "| ERROR" in line]
    if not lines:
        return "(none)"
    return lines[-1].rsplit(" - ", 1)[-1].strip()[:300]


def upstream_valves(base_url: str, key: str) -> dict:
    return {
        "OPENAI_API_BASE_URL": base_url,
        "OPENAI_API_KEY": key,
        "ALLOW_GLOBAL_KEY_FALLBACK": True,
    }


def install_pipe(client, valves: dict) -> tuple[str, list[dict]]:
    """Install or update the function, activate it, save valves, grant its models.

    Valves an admin changed in the UI on an earlier run are kept; only the
    upstream's URL, key and the key fallback are set.
    """
    from owui.client import OpenWebUIError

    content = PIPE_FILE.read_text(encoding="utf-8")
    try:
        client.get_function(PIPE_ID)
        existed = True
    except OpenWebUIError:
        existed = False
    function = client.install_function(content, PIPE_ID)
    if not function.get("is_active"):
        sys.exit("\nthe function could not be activated; see .demo/openwebui.log")
    current = client.get_valves(PIPE_ID) or {}
    try:
        client.update_valves(PIPE_ID, {**current, **valves})
    except OpenWebUIError as error:
        sys.exit(
            f"\nthe pipe refused its valves ({error}); the reason is in "
            ".demo/openwebui.log. Is OPENAI_API_BASE_URL an http(s) URL?"
        )

    models = [
        model
        for model in client.models(refresh=True)
        if model["id"].startswith(PIPE_ID + ".")
    ]
    usable = [m for m in models if not m["id"].endswith(".setup-required")]
    for model in usable:  # Admin Panel > Settings > Models > Public, for each
        client.make_model_public(model["id"], model.get("name"))
    action = "updated the function to" if existed else "installed"
    return f"{action} {PIPE_FILE.name} (function id {PIPE_ID}), active", models


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from demo_upstream import DemoUpstream
    from owui.client import OpenWebUI
    from owui.process import OpenWebUIStartError, start_openwebui

    if not PIPE_FILE.exists():
        sys.exit(f"{PIPE_FILE.name} is missing: build it with python3 scripts/build.py")
    if not port_is_free(args.port):
        sys.exit(
            f"port {args.port} on 127.0.0.1 is in use: stop what runs there, or pick "
            f"another port with --port"
        )
    if args.fresh and DEMO_DIR.exists():
        stop_leftover_server(DEMO_DIR / "openwebui.pid")
        shutil.rmtree(DEMO_DIR)
        say("deleted .demo/ (--fresh)")
    DEMO_DIR.mkdir(exist_ok=True)
    stop_leftover_server(DEMO_DIR / "openwebui.pid")
    data_dir = DEMO_DIR / "data"
    fresh_database = not (data_dir / "webui.db").exists()

    upstream = None
    server = None
    starting = False  # Ctrl-C while Open WebUI starts: start_openwebui stops it
    try:
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if key:
            base_url = (
                os.environ.get("OPENAI_API_BASE_URL", "").strip() or OPENAI_DEFAULT_URL
            )
            upstream_line = (
                f"{base_url} with the OPENAI_API_KEY from your environment "
                "(the pipe's global key; ALLOW_GLOBAL_KEY_FALLBACK on)"
            )
            valves = upstream_valves(base_url, key)
        else:
            upstream = DemoUpstream().start()
            upstream_line = (
                f"the bundled demo server at {upstream.base_url} (canned answers, no "
                "key needed; set OPENAI_API_KEY to use a real endpoint)"
            )
            valves = upstream_valves(upstream.base_url, "")
            say(f"demo upstream listening at {upstream.base_url}")

        what = "first start, about 20-40 s" if fresh_database else "about 15-30 s"
        progress = Progress(f"starting Open WebUI ({what})...")
        started = time.monotonic()
        starting = True
        try:
            server = start_openwebui(
                port=args.port,
                data_dir=data_dir,
                log_path=DEMO_DIR / "openwebui.log",
                env={
                    "WEBUI_SECRET_KEY": secret_key(),
                    # Open WebUI's own OpenAI connection stays off and keyless: only
                    # the pipe talks to the upstream.
                    "OPENAI_API_KEY": "",
                    "OPENAI_API_BASE_URL": "",
                },
                progress=progress,
            )
        except OpenWebUIStartError as error:
            say()
            say(str(error))
            return 1
        starting = False
        progress.done(time.monotonic() - started)
        (DEMO_DIR / "openwebui.pid").write_text(f"{server.pid}\n")

        client = OpenWebUI(server.base_url)
        say(sign_in_admin(client) + f" ({ADMIN_EMAIL})")
        installed, models = install_pipe(client, valves)
        say(installed)
        names = [model.get("name", model["id"]) for model in models]
        if len(names) > 8:
            names = names[:8] + [f"... ({len(models)} in all)"]
        problem = [m for m in models if m["id"].endswith(".setup-required")]
        client.close()

        say()
        say(f"Open WebUI is ready: http://127.0.0.1:{args.port}")
        say(
            f"  Sign in as: {ADMIN_EMAIL} / {ADMIN_PASSWORD}  "
            "(fixed demo login created by this script; local use only)"
        )
        if not models:
            say(
                "  Models:     none: Open WebUI got no models from the pipe. Last "
                f"error in .demo/openwebui.log: {last_error(server.log_text())}"
            )
        elif problem:
            say(f"  Models:     none yet. The pipe says: {problem[0]['name']}")
            if key:
                say(
                    "              Check OPENAI_API_KEY and OPENAI_API_BASE_URL in your "
                    "environment and restart the demo, or fix them in Admin Panel > "
                    "Functions > OpenAI Manifold Pipe > Valves."
                )
        else:
            say(f"  Models:     {', '.join(names)}")
        say(f"  Upstream:   {upstream_line}")
        say("  Data:       .demo/ (kept between runs; --fresh starts over)")
        say("  Server log: .demo/openwebui.log")
        say("Press Ctrl-C to stop.")

        while server.running():
            time.sleep(0.5)
        say(
            f"\nOpen WebUI exited (code {server.process.returncode}); last log lines:\n"
            + server.log_tail()
        )
        return 1
    except KeyboardInterrupt:
        say("\nstopping...", end="")
        return 0
    finally:
        if server is not None:
            server.stop()
            (DEMO_DIR / "openwebui.pid").unlink(missing_ok=True)
        if upstream is not None:
            upstream.stop()
        stopped = [
            name
            for name, thing in (
                ("Open WebUI", server or starting),
                ("the demo upstream", upstream),
            )
            if thing
        ]
        if stopped:
            say(f" stopped {' and '.join(stopped)}.")


def main(argv: list[str]) -> int:
    args = parse_args(argv)  # --help works before any install
    python = ensure_venv(["host"])
    if not in_project_venv():
        sys.stdout.flush()
        os.execv(python, [str(python), str(Path(__file__).resolve()), *argv])
    # Ctrl-C, SIGTERM (kill) and a closing terminal all clean up the same way, even
    # when started from a shell that made this process ignore SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
