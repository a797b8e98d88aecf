"""The benchmark's helper processes, and what it watches Open WebUI with from outside.

The fake upstream and the /health prober each run in a process of their own
(`bench.py --serve-upstream`, `bench.py --probe-health`): in the benchmark's own
process they would share its event loop and its GIL with the clients they measure.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .settings import BENCH_SCRIPT, REPO_ROOT
from .stats import median, percentile


def spawn(*mode: str, stderr: int | None = None) -> subprocess.Popen:
    """`bench.py` in an internal mode, in a session of its own so that a Ctrl-C at
    the terminal does not kill it before the benchmark has stopped what it started;
    the caller reads its first line (READY) from stdout."""
    return subprocess.Popen(
        [sys.executable, str(BENCH_SCRIPT), *mode],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def terminate(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM, and SIGKILL if it is still there after `grace` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def until_signal() -> threading.Event:
    """An event SIGTERM sets: an internal mode's loop runs until its parent says."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


class UpstreamProcess:
    """The fake upstream (`upstream.serve`) in a child process: `base_url`,
    `add_fault`, `clear`, `paths`, `stop`."""

    def __init__(self) -> None:
        self.process = spawn("--serve-upstream", "0", stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"upstream did not start: {line!r}")
        self.port = int(line.split()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def control(self, path: str, body: dict | None = None) -> dict:
        """POST to one of the upstream's `/_bench/...` control routes."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(
                "POST",
                path,
                body=json.dumps(body or {}),
                headers={"Content-Type": "application/json"},
            )
            return json.loads(connection.getresponse().read() or b"{}")
        finally:
            connection.close()

    def add_fault(self, kind: str, *, path: str | None, times: int = 1, **opts) -> None:
        self.control(
            "/_bench/fault", {"kind": kind, "path": path, "times": times, **opts}
        )

    def clear(self) -> None:
        self.control("/_bench/clear")

    def paths(self) -> dict[str, int]:
        """Requests received so far, per path."""
        return self.control("/_bench/stats").get("paths", {})

    def stop(self) -> None:
        terminate(self.process, 10)


class Blackhole:
    """A port that accepts TCP connections and never answers: a dead endpoint."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)  # never accept(): the kernel completes handshakes
        self.port = self.sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.sock.close()


def probe_health(base_url: str, out: Path, interval: float) -> None:
    """The prober process: GET /health in a loop on one keep-alive connection; one
    line per probe: `<monotonic start> <seconds>`. CLOCK_MONOTONIC is system-wide,
    so the main process can cut the samples into windows with its own
    time.monotonic()."""
    host_port = base_url.split("//", 1)[1].rstrip("/")
    host, _, port = host_port.partition(":")
    stop = until_signal()
    connection = None
    with open(out, "w", buffering=1) as file:
        print("READY", flush=True)
        while not stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
            started = time.monotonic()
            try:
                connection.request("GET", "/health")
                connection.getresponse().read()
                file.write(f"{started:.6f} {time.monotonic() - started:.6f}\n")
            except (OSError, http.client.HTTPException):
                file.write(f"{started:.6f} {time.monotonic() - started:.6f} error\n")
                connection.close()
                connection = None
            time.sleep(interval)


class HealthProber:
    """The prober process and the samples it wrote."""

    def __init__(self, base_url: str, out: Path, interval: float = 0.01) -> None:
        self.out = out
        self.process = spawn(
            "--probe-health", base_url, "--out", str(out), "--interval", str(interval)
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "READY":
            raise RuntimeError("health prober did not start")

    def samples(self, start: float, end: float) -> list[tuple[float, float]]:
        """(sent, answer time) in seconds of the probes sent in [start, end]."""
        found = []
        for line in self.out.read_text().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sent = float(parts[0])
            if start <= sent <= end:
                found.append((sent, float(parts[1])))
        return found

    def window(self, start: float, end: float) -> dict:
        """The /health answers of [start, end]: longest (and when), p99, median."""
        samples = self.samples(start, end)
        values = [latency for _, latency in samples]
        worst = max(samples, key=lambda sample: sample[1]) if samples else None
        return {
            "max_ms": worst[1] * 1000 if worst else None,
            "max_at_s": worst[0] - start if worst else None,  # when, in the window
            "p99_ms": (percentile(values, 99) or 0) * 1000 if values else None,
            "median_ms": (median(values) or 0) * 1000 if values else None,
            "count": len(values),
        }

    def stop(self) -> None:
        terminate(self.process, 5)


def rss_tree_mb(pid: int) -> float:
    """VmRSS of `pid` and all its descendants, in MB: Open WebUI's memory, with the
    processes it starts."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total_kb = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status") as file:
                for line in file:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024
