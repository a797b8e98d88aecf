"""SSE: an incremental reader for the upstream's text/event-stream.

Bytes arrive split anywhere: inside a line, between CR and LF, inside a UTF-8
character. The reader follows the WHATWG event-stream rules (CR, LF and CRLF
line ends, comments, multi-line data) and yields each event's data as soon as
its blank line arrives, so chunks reach the user with no added delay.

One field outside the standard is read too: llama-server (llama.cpp) reports a
failure in the middle of a stream as an `error: {...}` line, which a standard
reader ignores, leaving the user an empty answer with no reason. Such an event
comes out as the `{"error": ...}` data other servers send for the same thing.
"""

import codecs
import json


class SSEReader:
    """Feed it bytes as they come; it returns the data of every completed event."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""
        self._data: list[str] = []
        self._error: list[str] = []
        self._started = False

    def feed(self, chunk: bytes) -> list[str]:
        text = self._tail + self._decoder.decode(chunk)
        if not self._started and text:
            text = text.removeprefix("\ufeff")
            self._started = True
        cr_pending = text.endswith("\r")
        if "\r" in text:
            # A CR at the very end may be the first half of a CRLF: keep it.
            text = text[:-1] if cr_pending else text
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._tail = lines.pop() + ("\r" if cr_pending else "")
        events: list[str] = []
        for line in lines:
            self._line(line, events)
        return events

    def close(self) -> list[str]:
        """Events left at the end of the stream.

        The standard drops an event without its blank line; servers that end on
        `data: [DONE]` with no newline are common enough to be lenient here.
        """
        text = self._tail + self._decoder.decode(b"", final=True)
        self._tail = ""
        events: list[str] = []
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            self._line(line, events)
        self._dispatch(events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "error":
            self._error.append(value)

    def _dispatch(self, events: list[str]) -> None:
        if self._error:
            events.append(_error_event("\n".join(self._error)))
            self._error = []
        if self._data:
            events.append("\n".join(self._data))
            self._data = []


def _error_event(value: str) -> str:
    """`{"error": <the field's JSON>}`, or its text as the error's message."""
    try:
        error = json.loads(value)
    except ValueError:
        error = {"message": value}
    if isinstance(error, dict) and "error" in error:
        error = error["error"]
    return json.dumps({"error": error}, ensure_ascii=False)
