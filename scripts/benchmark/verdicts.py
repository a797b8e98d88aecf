"""The targets of issue #6 (and issue 18's ledger cost), judged on a run's
figures: the PASS/FAIL lines.

Each target reads figures by key and says nothing when its phase did not run.
Ratios read "how much worse is the pipe" (> 1: worse) and are judged paired
where they can be (see `Figure.judged`).
"""

from __future__ import annotations

from .figures import Figure, fmt
from .settings import Plan

TTFT_KEYS = (
    "api.short.ttft.median",
    "api.long.ttft.median",
    "web.short.ttft.median",
    "web.long.ttft.median",
    "responses.api.short.ttft.median",
    "responses.web.short.ttft.median",
)
# Paced streams, not full-speed ones: at full speed every side saturates the loop
# and /health measures its queue (shown in the table, not judged).
HEALTH_KEYS = (
    "health.paced.api.max",
    "health.paced.web.max",
    "health.slow_headers.max",
    "health.slow_models.max",
    "health.dead_models.max",
)


def verdict(target: str, ok: bool, detail: str) -> dict:
    """One PASS/FAIL line, as the JSON keeps it."""
    return {"target": target, "pass": bool(ok), "detail": detail}


def judge(figures: list[Figure], plan: Plan, raw: dict) -> list[dict]:
    """Every target whose figures were measured, in the report's order."""
    book: dict[str, Figure] = {}
    for figure in figures:
        book.setdefault(figure.key, figure)
    return [
        *ttft(book),
        *ttft_minimal(book),
        *throughput(book, plan),
        *health(book),
        *in_process(book),
        *dead_endpoint(book),
        *memory(book, raw),
        *ledger(book, raw),
    ]


def ttft(book: dict[str, Figure]) -> list[dict]:
    found = []
    for key in TTFT_KEYS:
        f = book.get(key)
        if f and f.judged is not None:
            ok, detail = f.verdict(1.05)
            if f.paired_minimal is not None and f.ratio_minimal is not None:
                # What any pipe with per-user keys costs here, to tell the
                # host's share of a miss from the pipe's.
                detail += (
                    f"; minimal pipe/built-in {f.minimal / f.builtin:.3f}, "
                    f"pipe/minimal paired {f.paired_minimal:.3f}"
                )
            found.append(verdict(f"TTFT pipe/built-in <= 1.05, {f.label}", ok, detail))
    return found


def ttft_minimal(book: dict[str, Figure]) -> list[dict]:
    """The Responses API: Open WebUI reads the user's valves from its database for
    any pipe with per-user keys (~1 ms the built-in does not spend), so time to
    first token is judged against the minimal pipe too."""
    found = []
    for key in TTFT_KEYS[-2:]:
        f = book.get(key)
        if f and f.paired_minimal is not None:
            found.append(
                verdict(
                    f"TTFT pipe/minimal pipe <= 1.05 (the host's per-user-key cost "
                    f"set apart), {f.label}",
                    f.paired_minimal <= 1.05,
                    f"paired ratio {f.paired_minimal:.3f} (medians "
                    f"{fmt(f.pipe, 'ms')} vs {fmt(f.minimal, 'ms')} ms)",
                )
            )
    return found


def throughput(book: dict[str, Figure], plan: Plan) -> list[dict]:
    found = []
    for kind in ("api", "web"):
        for key in [
            *(f"{kind}.c{n}" for n in plan.concurrency),
            f"responses.{kind}.c{plan.responses_concurrency}",
        ]:
            f = book.get(f"{key}.rate")
            if f and f.judged is not None:
                found.append(
                    verdict(
                        f"throughput built-in/pipe <= 1.05, {f.label}", *f.verdict(1.05)
                    )
                )
    return found


def health(book: dict[str, Figure]) -> list[dict]:
    """The typical window's longest /health answer: a pause of the machine lands
    in one window, a step of the pipe's that holds the loop in every one."""
    found = []
    for key in HEALTH_KEYS:
        f = book.get(key)
        pipe, builtin = f and f.typical.get("pipe"), f and f.typical.get("builtin")
        if pipe is not None and builtin is not None:
            extra = pipe - builtin
            found.append(
                verdict(
                    f"/health delayed <= 20 ms more than with the built-in, {f.label}",
                    extra <= 20.0,
                    f"typical window's longest: pipe {pipe:.1f} ms vs built-in "
                    f"{builtin:.1f} ms ({extra:+.1f} ms); longest of all "
                    f"{f.pipe:.1f} vs {f.builtin:.1f} ms",
                )
            )
    return found


def in_process(book: dict[str, Figure]) -> list[dict]:
    """The pipe's own event-loop steps, and its warm `pipes()`."""
    found = []
    f = book.get("inproc.loop_stall")
    if f and f.pipe is not None:
        found.append(
            verdict(
                "the pipe alone holds the event loop <= 20 ms at a time (in-process)",
                f.pipe <= 20.0,
                f"longest step {f.pipe:.1f} ms (line reader {f.builtin:.1f} ms)",
            )
        )
    f = book.get("pipes.warm.median")
    if f and f.pipe is not None:
        p = book.get("pipes.warm.p95")
        found.append(
            verdict(
                "warm pipes() < 1 ms",
                f.pipe < 1000,
                f"median {f.pipe:.1f} us"
                + (f", p95 {p.pipe:.1f} us" if p and p.pipe else ""),
            )
        )
    return found


def dead_endpoint(book: dict[str, Figure]) -> list[dict]:
    """At most "the short timeout": 5 s beyond what the same listing costs when the
    endpoint is fine (Open WebUI's own work), and only the first time in a TTL."""
    first, second = book.get("listing.dead.first"), book.get("listing.dead.second")
    normal = book.get("listing.normal.median")
    pfirst, psecond = book.get("pipes.dead.first"), book.get("pipes.dead.second")
    parts, ok = [], True
    if first and second and first.pipe is not None and second.pipe is not None:
        base = normal.pipe if normal and normal.pipe is not None else 0.0
        ok = ok and first.pipe - base <= 5050 and second.pipe - base <= 100
        parts.append(
            f"/api/models {first.pipe:,.0f} ms then {second.pipe:,.0f} ms "
            f"(normal listing {base:.0f} ms)"
        )
    if pfirst and psecond and pfirst.pipe is not None:
        ok = ok and pfirst.pipe <= 5050 and psecond.pipe <= 50
        parts.append(f"pipes() {pfirst.pipe:,.0f} ms then {psecond.pipe:.2f} ms")
    if not parts:
        return []
    return [
        verdict(
            "a dead endpoint costs a listing <= 5 s, once per TTL", ok, "; ".join(parts)
        )
    ]


def memory(book: dict[str, Figure], raw: dict) -> list[dict]:
    """20 MB per 1,000 chats, scaled to the chats of the run."""
    f = book.get("memory.growth")
    if not (f and f.pipe is not None):
        return []
    n = raw["memory"]["chats_per_side"]
    limit = 20.0 * min(n, 1000) / 1000
    return [
        verdict(
            f"RSS growth < {limit:g} MB over {n} chats (20 MB per 1,000)",
            f.pipe < limit,
            f"pipe {f.pipe:+.1f} MB"
            + (f", built-in {f.builtin:+.1f} MB" if f.builtin is not None else ""),
        )
    ]


def ledger(book: dict[str, Figure], raw: dict) -> list[dict]:
    """USER_QUOTA's check, insert and update: "at most a few milliseconds" a chat
    (issue 18), judged on the total time it adds (median with minus without)."""
    f, ttft = book.get("ledger.total.added"), book.get("ledger.ttft.added")
    if not (f and f.pipe is not None):
        return []
    figures = raw["ledger"]
    n = min(sum(figures[side]["ok"]) for side in ("with", "without"))
    medians = figures["total_median_ms"]
    paired = figures["total_paired_added_ms"]
    return [
        verdict(
            "USER_QUOTA's ledger adds at most a few ms (target: <= 5 ms per chat)",
            f.pipe <= 5.0,
            f"total {f.pipe:+.1f} ms"
            + (f", TTFT {ttft.pipe:+.1f} ms" if ttft and ttft.pipe is not None else "")
            + f" (median of {n}, {figures['database']}; total "
            f"{medians['with']:.1f} with vs {medians['without']:.1f} ms without"
            + ("" if paired is None else f"; back to back {paired:+.1f} ms")
            + ")",
        )
    ]
