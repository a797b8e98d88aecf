"""Secrets: the one place keys are removed from what users and logs see.

Every message, model name, status line and log record the pipe produces passes
through here. Two nets: the exact keys in play (any 8-character piece of them,
which also catches OpenAI's masked echo `sk-abc12***...wxyz`), and anything shaped
like a key from a known provider, in case an upstream echoes one we never held.
"""

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"

# The smallest piece of a key that counts as leaking it.
KEY_PIECE = 8

_KEY_SHAPED = re.compile(
    r"""
    \b(?:sk|pk|rk)-[A-Za-z0-9_\-]*[A-Za-z0-9_\-*]{6,}   # OpenAI and most compatibles, masked too
    | \bgsk_[A-Za-z0-9]{8,}                             # Groq
    | \bxai-[A-Za-z0-9]{8,}                             # xAI
    | \bAIza[0-9A-Za-z_\-]{20,}                         # Google
    | \bnvapi-[A-Za-z0-9_\-]{8,}                        # NVIDIA
    | \bBearer\s+[^\s"',]+                              # an Authorization header value
    | [^\s"'`:=]{2,}\*{4,}[^\s"'`,.]*                   # any masked secret: abcd****wxyz
    """,
    re.VERBOSE,
)


class Redactor:
    """Removes the given keys, in whole or in part, and key-shaped text.

    Built once per request with that request's keys (the user's and the global
    one), so a key echoed back by the upstream is caught even when its shape is
    unknown.
    """

    def __init__(self, keys: Iterable[str | None] = ()) -> None:
        self._pieces: set[str] = set()
        self._short: list[str] = []
        for key in keys:
            key = (key or "").strip()
            if len(key) >= KEY_PIECE:
                self._pieces.update(
                    key[i : i + KEY_PIECE] for i in range(len(key) - KEY_PIECE + 1)
                )
            elif len(key) >= 4:
                self._short.append(key)

    def __call__(self, text: object) -> str:
        text = _KEY_SHAPED.sub(REDACTED, str(text))
        if self._pieces:
            text = self._without_pieces(text)
        for key in self._short:
            text = text.replace(key, REDACTED)
        return text

    def _without_pieces(self, text: str) -> str:
        """Blank every run of characters covered by an 8-character piece of a key."""
        covered = bytearray(len(text))
        for start in range(len(text) - KEY_PIECE + 1):
            if text[start : start + KEY_PIECE] in self._pieces:
                covered[start : start + KEY_PIECE] = b"\x01" * KEY_PIECE
        if not any(covered):
            return text
        out: list[str] = []
        previous = 0
        for index, char in enumerate(text):
            if covered[index]:
                if not previous:
                    out.append(REDACTED)
            else:
                out.append(char)
            previous = covered[index]
        return "".join(out)


redact_key_shaped = Redactor()


class RedactingFilter(logging.Filter):
    """Last line of defence for log records: no key-shaped text reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_key_shaped(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_key_shaped(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        return True


log = logging.getLogger("openai_manifold_pipe")
if not any(isinstance(f, RedactingFilter) for f in log.filters):
    log.addFilter(RedactingFilter())
