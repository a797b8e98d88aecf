"""Rotation: several shared keys in OPENAI_API_KEY, taking turns and resting when limited.

One key means one rate limit for the whole instance. With several, comma-separated,
chats on the shared key take them in turn. A key the upstream answers with 429
rests for its Retry-After (a minute without one), a key out of quota
(`insufficient_quota`) for an hour, while the others serve the same chat at once.
With every key resting, a chat waits once for the first to wake if that is no
longer than a single key's 429 would be waited out (MAX_RETRY_WAIT), else the
user is told when to try again. One key keeps the single-key behaviour: its 429s
are waited out and retried like any other.

What rests is remembered by this process only: a replica that has not met the
limit yet learns it from its own first 429.
"""

import asyncio
import itertools
import time
from datetime import datetime, timedelta, timezone

from .errors import USER_VALVES_PATH, PipeError, UpstreamError
from .redact import log
from .transport import MAX_RETRY_WAIT, OnRetry

RATE_LIMITED_REST = 60.0
NO_QUOTA_REST = 3600.0


def split_keys(text: str) -> list[str]:
    """The keys of an OPENAI_API_KEY valve: one, or several separated by commas."""
    return [key.strip() for key in text.split(",") if key.strip()]


class KeyRotation:
    """Whose turn it is, and which keys rest until when (monotonic seconds)."""

    def __init__(self) -> None:
        self._turn = itertools.count()
        self._resting: dict[str, float] = {}

    def pick(self, keys: list[str], *, tried: frozenset[str] = frozenset()) -> str:
        """The next key neither resting nor `tried`; PipeError when there is none."""
        now = time.monotonic()
        start = next(self._turn)
        for offset in range(len(keys)):
            key = keys[(start + offset) % len(keys)]
            if key not in tried and self._resting.get(key, 0.0) <= now:
                return key
        wake = min(self._resting.get(key, now) for key in keys)
        raise AllResting(len(keys), max(wake - now, 1.0))

    def rest(self, key: str, error: UpstreamError) -> float:
        """Send a key to rest for as long as its answer asks; the seconds it rests."""
        if error.detail.is_insufficient_quota:
            seconds = NO_QUOTA_REST
        elif error.retry_after is not None:
            seconds = error.retry_after
        else:
            seconds = RATE_LIMITED_REST
        until = max(self._resting.get(key, 0.0), time.monotonic() + seconds)
        self._resting[key] = until
        return seconds


class SharedKey:
    """The shared key one chat is on, and the way to the next one when it must rest."""

    def __init__(self, rotation: KeyRotation, keys: list[str]) -> None:
        self._rotation = rotation
        self._keys = keys
        self.key = rotation.pick(keys)
        self._tried = {self.key}
        self._waited = False

    async def switch(self, error: UpstreamError, wait: OnRetry | None) -> str:
        """Rest the key that got `error` and take the next; PipeError when none is left.

        Each key is tried once per chat, so a Retry-After of zero cannot loop. With
        every key resting, `wait` (the status line), once per chat, when the first
        wakes within MAX_RETRY_WAIT; None: no waiting (MAX_RETRIES is 0).
        """
        seconds = self._rotation.rest(self.key, error)
        log.info(
            "shared key %d of %d rests %.0f s after a %s",
            self._keys.index(self.key) + 1,
            len(self._keys),
            seconds,
            "quota error" if error.detail.is_insufficient_quota else "429",
        )
        try:
            self.key = self._rotation.pick(self._keys, tried=frozenset(self._tried))
        except AllResting as resting:
            if wait is None or self._waited or resting.seconds > MAX_RETRY_WAIT:
                raise
            self._waited = True
            await wait(resting.seconds, "All shared keys are rate-limited.")
            await asyncio.sleep(resting.seconds)
            self._tried.clear()
            self.key = self._rotation.pick(self._keys)
        self._tried.add(self.key)
        return self.key


class AllResting(PipeError):
    """Every shared key rests; the message says when to try again."""

    def __init__(self, count: int, seconds: float) -> None:
        super().__init__(_all_resting(count, seconds))
        self.seconds = seconds


def _all_resting(count: int, seconds: float) -> str:
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return (
        f"All {count} shared keys are rate-limited or out of quota right now. Try "
        f"again in {seconds:.0f} s (at {at:%H:%M:%S} UTC), or add your own API key "
        f"in {USER_VALVES_PATH}."
    )
