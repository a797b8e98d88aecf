"""An endpoint that is up but never answers: each connection is reset at once.

For the pipe this is an endpoint it cannot reach (no HTTP answer at all), and unlike a
closed port it can count how often it was tried: the tests of background tasks after
such a failure assert on that count rather than on timings.
"""

from __future__ import annotations

import socket
import struct
import threading


class ClosingServer:
    """A listener on 127.0.0.1 that resets every connection it accepts."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._count = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ClosingServer", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    @property
    def connections(self) -> int:
        with self._lock:
            return self._count

    def __enter__(self) -> ClosingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        try:  # wake the accept() so the thread sees it is stopping
            socket.create_connection(self._listener.getsockname(), timeout=1).close()
        except OSError:
            pass
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._stopping.is_set():
                conn.close()
                return
            with self._lock:
                self._count += 1
            # SO_LINGER 0: close() sends RST, so the client sees a reset, not a FIN.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
