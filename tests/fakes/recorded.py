"""`Recorded`: one request as a fake server saw it, for the tests' assertions."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Recorded:
    """One request as the server saw it, for assertions (headers are lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict | None
    key: str | None
    raw_authorization: str | None
    received_at: float
    raw_body: bytes = b""
    disconnected: bool = False  # the client went away before the answer was complete
    completed: bool = False  # the handler finished its answer
    status: int | None = None  # status sent (None: no response, e.g. refuse)
    faults: list[str] = field(default_factory=list)  # fault kinds applied, in order
    query: dict[str, str] = field(default_factory=dict)  # the URL's query parameters

    @property
    def model(self) -> str | None:
        """The `model` of the JSON body, if any."""
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        """Whether the request asked for an SSE stream."""
        return bool(isinstance(self.body, dict) and self.body.get("stream") is True)
