"""Phase `ledger`: what USER_QUOTA's ledger adds to a chat on the global key.

A user of its own (role user, no key of its own) chats with the pipe on the admin's
key (ALLOW_GLOBAL_KEY_FALLBACK): short streams on the API path, alternately with
USER_QUOTA empty (no ledger) and with limits that never trip (the ledger on: one
transaction before the request, SELECT of the user's sums and INSERT of a row in
`openai_manifold_pipe_ledger`, and one UPDATE once the answer is over), through
Open WebUI's own database engine. The valves are saved before every chat, whichever
its side, so both sides follow the same steps; the order turns every repetition.

The figures are the differences of the medians, with the ledger minus without:
time to first token (the check and the insert) and total time (those and the
update). The pipe's model is made public for that user and its database entry
removed afterwards; the valves are put back for the phases that follow.
"""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING

from ..client import StreamResult, Target, values_of
from ..figures import Figure
from ..stats import median

if TYPE_CHECKING:
    from ..core import Bench

# Limits the run never reaches: every chat is checked, counted and let through.
QUOTA = "requests/hour=1000000, tokens/day=1000000000"
TABLE = "openai_manifold_pipe_ledger"
SIDES = ("without", "with")  # USER_QUOTA empty, USER_QUOTA = QUOTA
WARM_UP = ("with", "without", "with", "without")  # "with" first: creates the table


async def run(bench: Bench) -> None:
    pipe_model = bench.model_for("pipe")
    public = user = None
    try:
        public = bench.admin.make_model_public(pipe_model)  # a role "user" may chat
        user = bench.admin.create_user("Bench Ledger")  # saves no key: the global one
        target = Target(
            bench.session,
            f"{bench.server.base_url}/api/chat/completions",
            {"Authorization": f"Bearer {user.token}"},
            pipe_model,
        )
        user_id = user.user["id"]
        results: dict[str, list[StreamResult]] = {side: [] for side in SIDES}
        for side in WARM_UP:
            result = await chat(bench, target, side)
            if not result.ok:
                raise RuntimeError(f"warm-up chat {side} the ledger: {result.error}")
        counted_before = rows(bench, user_id)
        if counted_before is not None and counted_before[0] == 0:
            raise RuntimeError("the warm-up chats with USER_QUOTA wrote no ledger row")
        for rep in range(bench.plan.ledger_reps):
            for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
                results[side].append(await chat(bench, target, side))
        counted_after = rows(bench, user_id)
        report(bench, results, counted_before, counted_after)
    finally:
        bench.set_pipe_valves()
        if user is not None:
            user.close()
        if public is not None:
            bench.admin.delete_model(pipe_model)  # no entry, as before
        bench.restore()


async def chat(bench: Bench, target: Target, side: str) -> StreamResult:
    """One short API-path chat as the user, the valves saved for `side` first."""
    if side == "with":
        bench.set_pipe_valves(USER_QUOTA=QUOTA)
    else:
        bench.set_pipe_valves()
    return await target.stream(bench.plan.short_chunks)


def report(
    bench: Bench,
    results: dict[str, list[StreamResult]],
    counted_before: tuple[int, int] | None,
    counted_after: tuple[int, int] | None,
) -> None:
    """The two rows (TTFT and total added), the raw figures; a ledger that did not
    count and settle every chat with USER_QUOTA (and none without) fails the phase."""
    good = {
        side: bench.note_failures(f"ledger.{side}", rs) for side, rs in results.items()
    }
    database = database_kind()
    raw: dict = {
        "quota": QUOTA,
        "database": database,
        "reps": bench.plan.ledger_reps,
        "chunks": bench.plan.short_chunks,
    }
    for side, rs in results.items():
        raw[side] = {
            "ttft_ms": [None if r.ttft is None else r.ttft * 1000 for r in rs],
            "total_ms": [r.total * 1000 for r in rs],
            "ok": [r.ok for r in rs],
        }
    if counted_before is not None and counted_after is not None:
        raw["rows_written"] = counted_after[0] - counted_before[0]
        raw["rows_settled"] = counted_after[1] - counted_before[1]
    bench.raw["ledger"] = raw
    n = min(len(good["with"]), len(good["without"]))
    for attr, metric, work in (
        ("ttft", "TTFT", "check+insert"),
        ("total", "total", "check+insert+update"),
    ):
        medians = {side: median(values_of(good[side], attr)) for side in SIDES}
        added = (
            None if None in medians.values() else medians["with"] - medians["without"]
        )
        # Rep by rep, the two sides ran back to back: drift moves this one less.
        pairs = [
            (getattr(a, attr) - getattr(b, attr)) * 1000
            for a, b in zip(results["with"], results["without"])
            if a.ok and b.ok and None not in (getattr(a, attr), getattr(b, attr))
        ]
        raw[f"{attr}_median_ms"] = medians
        raw[f"{attr}_added_ms"] = added
        raw[f"{attr}_paired_added_ms"] = median(pairs)
        note = f"median of {n}, {database}: {work}"
        if added is not None:
            note = (
                f"{metric} {added:+.1f} ms ({note}); "
                f"{medians['with']:.1f} with vs {medians['without']:.1f} ms without"
            )
        bench.add(
            Figure.shown(
                f"ledger.{attr}.added",
                f"Ledger (USER_QUOTA) {metric} added, API short",
                "ms",
                None,
                added,
                note=note,
            )
        )
    written = raw.get("rows_written")
    ok_with = sum(r.ok for r in results["with"])
    if written is not None and written != ok_with:
        raise RuntimeError(
            f"{written} ledger rows written for {ok_with} chats with USER_QUOTA "
            f"and {sum(r.ok for r in results['without'])} without: not the "
            "ledger's cost that was measured"
        )
    settled = raw.get("rows_settled")
    if settled is not None and settled != written:
        raise RuntimeError(
            f"{settled} of {written} ledger rows settled with the answer's usage: "
            "the update after the answer was not measured"
        )


def database_kind() -> str:
    """Open WebUI's database, as the server was started (it inherits this env)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return "PostgreSQL"
    return "SQLite" if not url or url.startswith("sqlite") else url.split(":")[0]


def rows(bench: Bench, user_id: str) -> tuple[int, int] | None:
    """The user's ledger rows, and how many of them hold tokens (settled with the
    upstream's usage); None when the database is not the server's SQLite file."""
    if os.environ.get("DATABASE_URL"):
        return None
    path = bench.server.data_dir / "webui.db"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        found = connection.execute(
            f"SELECT count(*), sum(output_tokens > 0) FROM {TABLE} WHERE user_id = ?",
            (user_id,),
        ).fetchone()
    except sqlite3.OperationalError as exc:  # no table: nothing was ever counted
        if "no such table" in str(exc):
            return 0, 0
        raise
    finally:
        connection.close()
    return int(found[0] or 0), int(found[1] or 0)
