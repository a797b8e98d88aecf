"""USER_QUOTA: parsing, calendar windows in UTC, and what the user is told."""

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from tests.owhost import load_pipe

PIPE = load_pipe()
NS = type(PIPE).__init__.__globals__  # the built file's module namespace
Limit, Totals = NS["Limit"], NS["Totals"]
parse_quota, judge = NS["parse_quota"], NS["judge"]
window_start, window_end = NS["window_start"], NS["window_end"]

NOW = datetime(2026, 12, 31, 22, 47, 13, tzinfo=timezone.utc)  # a Thursday


def test_parses_every_metric_and_period():
    limits = parse_quota(" Tokens/Day=200000, usd/month = 5.5 ,requests/hour=60,")
    assert limits == (
        Limit("tokens", "day", 200000),
        Limit("usd", "month", 5.5),
        Limit("requests", "hour", 60),
    )
    assert parse_quota("") == ()


@pytest.mark.parametrize(
    "text, named",
    [
        ("requests/hour", "requests/hour"),
        ("calls/hour=3", "calls/hour=3"),
        ("requests/year=3", "requests/year=3"),
        ("requests/hour=-1", "requests/hour=-1"),
        ("requests/hour=2.5", "requests/hour=2.5"),
        ("requests/hour=1, requests/hour=2", "requests/hour twice"),
    ],
)
def test_a_malformed_quota_is_refused_when_saved(text, named):
    with pytest.raises(ValidationError) as raised:
        PIPE.Valves(USER_QUOTA=text)
    assert "USER_QUOTA" in str(raised.value) and named in str(raised.value)


@pytest.mark.parametrize(
    "period, start, end",
    [
        ("minute", "2026-12-31 22:47", "2026-12-31 22:48"),
        ("hour", "2026-12-31 22:00", "2026-12-31 23:00"),
        ("day", "2026-12-31 00:00", "2027-01-01 00:00"),
        ("week", "2026-12-28 00:00", "2027-01-04 00:00"),  # ISO weeks start on Monday
        ("month", "2026-12-01 00:00", "2027-01-01 00:00"),
    ],
)
def test_windows_are_calendar_periods_in_utc(period, start, end):
    assert f"{window_start(period, NOW):%Y-%m-%d %H:%M}" == start
    assert f"{window_end(period, NOW):%Y-%m-%d %H:%M}" == end


def test_windows_ignore_the_servers_time_zone():
    from datetime import timedelta

    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))  # already 2027 there
    assert window_start("day", tokyo) == window_start("day", NOW)


def test_the_refusal_names_the_limit_the_figure_used_and_the_reset():
    limits = parse_quota("requests/hour=3, usd/month=5")
    refusal, note = judge(limits, {"hour": Totals(requests=3)}, task=False, now=NOW)
    assert note is None
    assert "3 requests of 3 requests this hour" in refusal
    assert "USER_QUOTA requests/hour=3" in refusal
    assert "resets at 2026-12-31 23:00 UTC" in refusal
    assert "your own API key" in refusal
    refusal, _ = judge(limits, {"month": Totals(usd=5.0312)}, task=False, now=NOW)
    assert "$5.03 of $5.00 this month" in refusal and "2027-01-01 00:00 UTC" in refusal


def test_tokens_count_against_tasks_but_requests_do_not():
    limits = parse_quota("requests/day=2, tokens/day=1000")
    spent = {"day": Totals(requests=2, tokens=10)}
    assert judge(limits, spent, task=False, now=NOW)[0]
    assert judge(limits, spent, task=True, now=NOW)[0] is None
    spent = {"day": Totals(requests=0, tokens=1000)}
    assert (
        "1,000 tokens of 1,000 tokens today"
        in judge(limits, spent, task=True, now=NOW)[0]
    )


def test_a_nearly_used_limit_says_what_is_left():
    limits = parse_quota("requests/hour=10")
    assert judge(limits, {"hour": Totals(requests=5)}, task=False, now=NOW) == (
        None,
        None,
    )
    _, note = judge(limits, {"hour": Totals(requests=7)}, task=False, now=NOW)
    assert note == "shared key: 2 requests left this hour (until 23:00 UTC)"
    _, note = judge(limits, {"hour": Totals(requests=8)}, task=False, now=NOW)
    assert note == "shared key: 1 request left this hour (until 23:00 UTC)"


def test_of_several_limits_used_up_the_refusal_names_the_one_that_lasts():
    limits = parse_quota("requests/hour=1, usd/month=5, tokens/day=10")
    spent = {
        "hour": Totals(requests=1),
        "month": Totals(usd=5),
        "day": Totals(tokens=10),
    }
    refusal, _ = judge(limits, spent, task=False, now=NOW)
    assert "usd/month=5" in refusal and "2027-01-01 00:00 UTC" in refusal
