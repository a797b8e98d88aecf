"""Ledger: one row per shared-key chat, in a table of the pipe's own in Open WebUI's database.

Open WebUI's `chat_message` rows cannot count a quota: they hold web-page chats
only, and not which key served them. So the pipe keeps its own table,
`openai_manifold_pipe_ledger`, created when missing, beside Open WebUI's tables
and through Open WebUI's own engine: every replica on the same database agrees,
and a restart loses nothing.

Open WebUI and SQLAlchemy are imported here lazily, inside the functions that
need them, only when USER_QUOTA is set: without them the pipe still loads and
chats. Open WebUI 0.9 and later have an async engine, which is used as is; older
hosts have a sync one only, which runs in a worker thread. Either way the event
loop never waits on the database. A ledger that cannot be read or written never
stops a chat: the chat goes through unchecked, and the failure is logged once.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .exchange import Settle
from .quota import Limit, Totals, judge, window_start
from .redact import log
from .usage import tokens_of

TABLE = "openai_manifold_pipe_ledger"


@dataclass(frozen=True)
class Admission:
    """The ledger's answer to one chat: refused, or let through with its row."""

    refusal: str | None = None
    note: str | None = None
    row: int | None = None


class Ledger:
    """The table, reached through Open WebUI's engine unless given another one."""

    def __init__(self, engine: Any = None, schema: str | None = None) -> None:
        self._engine = engine
        self._schema = schema
        self._table: Any = None
        self._failing = False

    async def admit(
        self,
        user_id: str,
        limits: tuple[Limit, ...],
        *,
        kind: str,
        model: str,
        chat_id: str | None,
    ) -> Admission:
        """Judge one more chat against the limits; when allowed, write its row.

        The check and the write are one transaction: one database round trip
        before the request goes out.
        """
        now = datetime.now(timezone.utc)
        starts = {limit.period: window_start(limit.period, now) for limit in limits}

        def work(connection: Any) -> Admission:
            spent = _spent(connection, self._table, user_id, starts)
            refusal, note = judge(limits, spent, task=kind != "chat", now=now)
            if refusal:
                return Admission(refusal=refusal)
            row = _insert(connection, self._table, user_id, now, kind, model, chat_id)
            return Admission(note=note, row=row)

        return await self._run(work) or Admission()

    def settler(self, row: int | None) -> Settle | None:
        """What ends a counted chat: what it used written to its row, or the row
        dropped when the upstream never answered (it cost nothing)."""
        if row is None:
            return None

        async def settle(usage: dict | None, usd: float | None, answered: bool) -> None:
            tokens_in, tokens_out = tokens_of(usage)

            def work(connection: Any) -> None:
                table = self._table
                chat = table.c.id == row
                if not answered:
                    connection.execute(table.delete().where(chat))
                    return
                written = {"input_tokens": tokens_in, "output_tokens": tokens_out}
                connection.execute(
                    table.update().where(chat).values(**written, usd=usd or 0.0)
                )

            await self._run(work)

        return settle

    async def _run(self, work: Callable[[Any], Any]) -> Any:
        """Run `work(connection)` in a transaction; on failure, log once and return None."""
        try:
            engine, schema = self._database()
            if self._table is None:
                self._table = await _made(engine, schema)
            result = await _transaction(engine, work)
        except Exception as exc:  # quota checking never takes chat down
            if not self._failing:
                log.warning(
                    "USER_QUOTA not applied: the ledger in Open WebUI's database "
                    "failed (%s: %s); chats go through uncounted until it works",
                    type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "",
                )
            self._failing = True
            self._table = None  # dropped or restored without it: made again next time
            return None
        if self._failing:
            log.warning("USER_QUOTA applies again: the ledger works")
        self._failing = False
        return result

    def _database(self) -> tuple[Any, str | None]:
        """The engine and schema given, else Open WebUI's: its async engine (0.9
        and later) or its sync one, and DATABASE_SCHEMA."""
        if self._engine is not None:
            return self._engine, self._schema
        from open_webui.internal import db

        return getattr(db, "async_engine", None) or db.engine, db.metadata_obj.schema


async def _made(engine: Any, schema: str | None) -> Any:
    """The table, created when missing; another replica creating it at once is fine."""
    table = _define(schema)

    def create(connection: Any) -> None:
        table.metadata.create_all(connection, checkfirst=True)

    try:
        await _transaction(engine, create)
    except Exception:  # lost the race: the second look finds the table
        await _transaction(engine, create)
    return table


async def _transaction(engine: Any, work: Callable[[Any], Any]) -> Any:
    """`work(connection)` in one transaction, off the event loop."""
    if hasattr(engine, "sync_engine"):  # SQLAlchemy's AsyncEngine
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    return await asyncio.to_thread(_sync_transaction, engine, work)


def _sync_transaction(engine: Any, work: Callable[[Any], Any]) -> Any:
    with engine.begin() as connection:
        return work(connection)


def _define(schema: str | None) -> Any:
    import sqlalchemy as sa

    return sa.Table(
        TABLE,
        sa.MetaData(schema=schema),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("chat_id", sa.String(255)),
        sa.Column("input_tokens", sa.BigInteger, nullable=False, default=0),
        sa.Column("output_tokens", sa.BigInteger, nullable=False, default=0),
        sa.Column("usd", sa.Float, nullable=False, default=0.0),
        sa.Index(f"{TABLE}_user_time", "user_id", "created_at"),
    )


def _spent(
    connection: Any, table: Any, user_id: str, starts: dict[str, datetime]
) -> dict[str, Totals]:
    """This user's requests, tokens and dollars since each window's start, in one query."""
    if not starts:
        return {}
    import sqlalchemy as sa

    columns = []
    for start in starts.values():
        recent = table.c.created_at >= start.timestamp()
        tokens = table.c.input_tokens + table.c.output_tokens
        columns += [
            sa.func.sum(sa.case((sa.and_(recent, table.c.kind == "chat"), 1), else_=0)),
            sa.func.sum(sa.case((recent, tokens), else_=0)),
            sa.func.sum(sa.case((recent, table.c.usd), else_=0.0)),
        ]
    earliest = min(start.timestamp() for start in starts.values())
    row = connection.execute(
        sa.select(*columns).where(
            table.c.user_id == user_id, table.c.created_at >= earliest
        )
    ).one()
    return {
        period: Totals(int(row[i] or 0), int(row[i + 1] or 0), float(row[i + 2] or 0))
        for period, i in zip(starts, range(0, len(columns), 3))
    }


def _insert(
    connection: Any,
    table: Any,
    user_id: str,
    now: datetime,
    kind: str,
    model: str,
    chat_id: str | None,
) -> int:
    result = connection.execute(
        table.insert().values(
            user_id=user_id,
            created_at=now.timestamp(),
            kind=kind[:64],
            model=model[:255],
            chat_id=chat_id[:255] if chat_id else None,
            input_tokens=0,
            output_tokens=0,
            usd=0.0,
        )
    )
    return int(result.inserted_primary_key[0])
