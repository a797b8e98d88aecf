"""Quota: the USER_QUOTA valve's limits, their calendar windows and their messages.

Limits apply to chats on the shared key only, and are counted in the ledger
(`ledger.py`). Windows are calendar periods in UTC (this hour, this day, this
ISO week from Monday, this month), so a limit resets at a time a user can be
told, rather than sliding by the second.
"""

import functools
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from .errors import USER_VALVES_PATH

METRICS = ("requests", "tokens", "usd")
PERIODS = ("minute", "hour", "day", "week", "month")
# Once no more than this share of a limit is left, the user is told what is.
NEARLY_USED = 0.2

_LIMIT = re.compile(
    r"\s*(?P<metric>[a-z]+)\s*/\s*(?P<period>[a-z]+)\s*=\s*(?P<amount>\d+(?:\.\d+)?)\s*"
)


@dataclass(frozen=True)
class Limit:
    """One `metric/period=amount` item of USER_QUOTA."""

    metric: str
    period: str
    amount: float

    def __str__(self) -> str:
        return f"{self.metric}/{self.period}={_plain(self.amount)}"


@dataclass(frozen=True)
class Totals:
    """What one user spent on the shared key in one window."""

    requests: int = 0
    tokens: int = 0
    usd: float = 0.0

    def of(self, metric: str) -> float:
        return getattr(self, metric)


@functools.lru_cache(maxsize=8)
def parse_quota(text: str) -> tuple[Limit, ...]:
    """`tokens/day=200000, usd/month=5` as limits; raises ValueError naming the item."""
    limits: dict[tuple[str, str], Limit] = {}
    for item in filter(str.strip, text.lower().split(",")):
        match = _LIMIT.fullmatch(item)
        if (
            not match
            or match["metric"] not in METRICS
            or match["period"] not in PERIODS
        ):
            raise ValueError(
                f"USER_QUOTA item {item.strip()!r} is not metric/period=amount with "
                f"metric {', '.join(METRICS)} and period {', '.join(PERIODS)}, "
                "e.g. requests/hour=60"
            )
        limit = Limit(match["metric"], match["period"], float(match["amount"]))
        if limit.metric != "usd" and not limit.amount.is_integer():
            raise ValueError(f"USER_QUOTA item {item.strip()!r} needs a whole number")
        if (limit.metric, limit.period) in limits:
            raise ValueError(f"USER_QUOTA lists {limit.metric}/{limit.period} twice")
        limits[(limit.metric, limit.period)] = limit
    return tuple(limits.values())


def window_start(period: str, now: datetime) -> datetime:
    """The start of the calendar period (UTC) that `now` falls in."""
    now = now.astimezone(timezone.utc)
    if period == "minute":
        return now.replace(second=0, microsecond=0)
    if period == "hour":
        return now.replace(minute=0, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def window_end(period: str, now: datetime) -> datetime:
    """When the period `now` falls in is over and its limit starts again."""
    start = window_start(period, now)
    if period == "month":
        return (start + timedelta(days=32)).replace(day=1)
    step = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}[period]
    return start + timedelta(seconds=step)


def refusal_message(limit: Limit, used: float, now: datetime) -> str:
    """The message for a user who has used up `limit`."""
    resets = window_end(limit.period, now).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"You have reached your limit on the shared key: {_figure(limit.metric, used)} "
        f"of {_figure(limit.metric, limit.amount)} {_this(limit.period)} "
        f"(USER_QUOTA {limit}). It resets at {resets}. To chat before then, add "
        f"your own API key in {USER_VALVES_PATH}."
    )


def left_note(limit: Limit, totals: Totals, now: datetime) -> str | None:
    """`1 request left this hour (until 10:00 UTC)`, once a limit is nearly used.

    Nearly: a fifth or less of it left, or for requests, one or none.
    """
    left = max(limit.amount - totals.of(limit.metric), 0)
    last = limit.metric == "requests" and left <= 1
    if left > limit.amount * NEARLY_USED and not last:
        return None
    when = "%Y-%m-%d %H:%M UTC" if limit.period in ("week", "month") else "%H:%M UTC"
    until = window_end(limit.period, now).strftime(when)
    return (
        f"shared key: {_figure(limit.metric, left)} left {_this(limit.period)} "
        f"(until {until})"
    )


def _figure(metric: str, amount: float) -> str:
    if metric == "usd":
        return f"${amount:,.2f}"
    unit = "request" if metric == "requests" else "token"
    count = int(amount)
    return f"{count:,} {unit}{'' if count == 1 else 's'}"


def _this(period: str) -> str:
    return "today" if period == "day" else f"this {period}"


def _plain(amount: float) -> str:
    return f"{amount:g}" if not amount.is_integer() else str(int(amount))


def judge(
    limits: tuple[Limit, ...], spent: dict[str, Totals], *, task: bool, now: datetime
) -> tuple[str | None, str | None]:
    """(refusal, note) for one more chat, or one more background task, by this user.

    Background tasks (titles, tags, follow-ups) and a model's tool round trips use
    tokens but are not requests: a chat's title, or the answer a tool result was
    fetched for, must not be refused for the message it belongs to.
    """
    notes = []
    used_up: list[tuple[Limit, float]] = []
    for limit in limits:
        if task and limit.metric == "requests":
            continue
        totals = spent.get(limit.period, Totals())
        if totals.of(limit.metric) >= limit.amount:
            used_up.append((limit, totals.of(limit.metric)))
            continue
        if limit.metric == "requests":
            totals = replace(totals, requests=totals.requests + 1)
        note = left_note(limit, totals, now)
        if note:
            notes.append(note)
    if used_up:  # the one that lasts longest: it says when chatting is possible again
        limit, used = max(used_up, key=lambda pair: window_end(pair[0].period, now))
        return refusal_message(limit, used, now), None
    return None, "; ".join(notes) or None
