"""Usage and audit records, written in batches off the request path.

The request path hands a record to a bounded in-process queue and moves on; one background task
drains it and inserts whole batches (one transaction each). Nothing is dropped silently:

* a full queue makes ``submit`` return False and ``submit_wait`` wait (back-pressure);
* a failing database is retried with exponential backoff, keeping the batch;
* a record the database refuses (too long, wrong type, ...) is isolated from its batch and spilled
  to the JSON-lines ``spill_path`` (or logged in full when there is none), and counted;
* ``close()`` writes everything still queued; if the database stays down past its timeout the rest is
  spilled and counted the same way.

A batch's usage rows are folded into the usage roll-ups in the same transaction (``rollup_fold``): the
rows, their sums and the roll-ups' watermark commit together or not at all, so a retried batch is
counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from api_connector.storage.db import Database
from api_connector.storage.dlq import DeadLetterRecord
from api_connector.storage.models import AuditRow, utcnow
from api_connector.storage.record_queue import RecordQueue
from api_connector.storage.request_audit import RequestAudit, insert_request_audits, request_audit_row
from api_connector.storage.rollup_fold import insert_usage_folded
from api_connector.storage.routing_models import DeadLetterRow
from api_connector.storage.usage_insert import usage_row

log = logging.getLogger(__name__)

# After this many failed attempts at a batch while the database answers pings, suspect one bad
# record rather than the database, and write the batch record by record to find it.
_ISOLATE_AFTER = 3


@dataclass(slots=True)  # not frozen: a frozen init costs a setattr call per field, on every request
class UsageRecord:
    request_id: str
    project_id: str
    provider: str
    model: str
    capability: str
    status: Literal["success", "error"]
    key_id: str | None = None  # None: no gateway key involved (embedded Connector)
    error_code: str | None = None
    prompt_tokens: int = 0  # input tokens (the column keeps its wave-one name)
    completion_tokens: int = 0  # output tokens
    cached_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    created_at: datetime = field(default_factory=utcnow)
    cached: bool = False  # answered from the response cache
    coalesced: bool = False  # answered by another identical request's upstream call
    # The other units of ``core.usage.Usage`` (one attribute per usage column: usage_insert reads them).
    characters: int = 0
    audio_seconds: float = 0.0
    pages: int = 0
    rows: int = 0
    searches: int = 0
    # The caller's address, kept for the request audit (None: the project's audit.payloads is none, or
    # no HTTP caller).
    client: str | None = None
    # The bodies the request audit keeps of this call, written with it (sanitized mode only).
    audit: RequestAudit | None = None

    def __post_init__(self) -> None:
        # Fail in the producer, where the bug is, not later in the writer.
        if self.status not in ("success", "error"):
            raise ValueError(f"usage status must be 'success' or 'error', not {self.status!r}")
        _check_aware(self.created_at)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    action: str
    target_type: str
    outcome: str
    request_id: str | None = None
    actor_key_id: str | None = None
    project_id: str | None = None
    target_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict, hash=False)
    created_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        _check_aware(self.created_at)


Record = UsageRecord | AuditRecord | DeadLetterRecord


class _Stop:
    """Queued by close(): everything before it gets written, then the writer task ends."""


class RecordWriter:
    def __init__(
        self,
        database: Database,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        *,
        spill_path: Path | None = None,
        retry_initial: float = 0.2,
        retry_max: float = 30.0,
    ) -> None:
        self._db = database
        self._queue: RecordQueue[Record | _Stop] = RecordQueue(queue_size)
        self._stop_queued = False  # close() has queued its _Stop: batches look for it
        self._batch_size = max(1, batch_size)
        self._flush_interval = flush_interval
        self._spill_path = spill_path
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._inflight: list[Record] = []
        self._batch_ready = asyncio.Event()  # set when a whole batch is queued, or on close
        self.submitted = 0
        self.written = 0
        self.failed_attempts = 0
        self.spilled = 0

    @property
    def queued(self) -> int:
        """Records accepted but not yet written (queue plus the batch being written)."""
        return self._queue.qsize() + len(self._inflight)

    def stats(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "submitted": self.submitted,
            "written": self.written,
            "failed_attempts": self.failed_attempts,
            "spilled": self.spilled,
        }

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="record-writer")

    def submit(self, record: Record) -> bool:
        """Queue a record without waiting. False when the queue is full: nothing was queued, and the
        caller must ``await submit_wait(record)`` (that is the back-pressure; nothing is dropped)."""
        self._check_open(record)
        if not self._queue.put_nowait(record):
            return False
        self.submitted += 1
        if self._queue.qsize() >= self._batch_size:
            self._batch_ready.set()
        return True

    async def submit_wait(self, record: Record) -> None:
        """Queue a record, waiting for room when the queue is full (back-pressure)."""
        self._check_open(record)
        await self._queue.put(record)
        self.submitted += 1
        if self._queue.qsize() >= self._batch_size:
            self._batch_ready.set()

    async def close(self, grace_period: float | None = 30.0) -> None:
        """Write everything queued and stop.

        Past ``grace_period`` seconds (None: wait as long as it takes) whatever is still unwritten is
        spilled, so a shutdown during a database outage ends instead of hanging, and loses nothing.
        """
        if self._closed:
            if self._task is not None:
                await asyncio.shield(self._task)
            return
        self._closed = True
        self.start()
        assert self._task is not None
        try:
            async with asyncio.timeout(grace_period):
                await self._queue.put(_Stop())
                self._stop_queued = True
                self._batch_ready.set()
                await asyncio.shield(self._task)
                # Producers that were blocked in submit_wait when close() began got in after _Stop.
                await self._drain_remaining()
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            leftover = self._inflight + self._take_all()
            self._inflight = []
            await self._spill(leftover, "record writer closed while the database was unavailable")

    def _check_open(self, record: Record) -> None:
        if self._closed:
            raise RuntimeError("record writer is closed")
        if not isinstance(record, UsageRecord | AuditRecord | DeadLetterRecord):
            raise TypeError(f"expected a usage, audit or dead-letter record, got {type(record).__name__}")

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if isinstance(first, _Stop):
                return
            batch: list[Record] = [first]
            stopping = await self._fill(batch)
            try:
                await self._write_tracked(batch)
            except Exception:  # a bug here must not stop the writer and strand every later record
                log.exception("record writer failed on a batch; spilling it")
                leftover, self._inflight = self._inflight, []
                await self._spill(leftover, "record writer error")

    async def _fill(self, batch: list[Record]) -> bool:
        """Add queued records up to batch_size, waiting at most flush_interval; True if _Stop was seen.

        One wait per batch (woken early once a whole batch is queued), never one timer per record:
        this runs beside the request path and must cost it next to nothing.
        """
        if self._queue.qsize() + len(batch) < self._batch_size:
            self._batch_ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_ready.wait(), self._flush_interval)
        taken = self._queue.take(self._batch_size - len(batch))
        if self._stop_queued:
            for index, item in enumerate(taken):
                if isinstance(item, _Stop):
                    # Anything queued after it is written by close(): it stays in the queue.
                    self._queue.put_back(taken[index + 1 :])
                    batch += cast(list[Record], taken[:index])  # records only: the first _Stop is here
                    return True
        batch += cast(list[Record], taken)  # no _Stop among them
        return False

    def _take_all(self, limit: int | None = None) -> list[Record]:
        taken = self._queue.take(self._queue.qsize() if limit is None else limit)
        return [item for item in taken if not isinstance(item, _Stop)]

    async def _drain_remaining(self) -> None:
        while True:
            await asyncio.sleep(0)  # let producers woken by the last take finish their put()
            # One batch at a time: whatever is not yet taken stays in the queue, where a timed-out
            # close() still finds it to spill.
            batch = self._take_all(self._batch_size)
            if not batch:
                return
            await self._write_tracked(batch)

    async def _write_tracked(self, batch: list[Record]) -> None:
        # _inflight is the single record of what is accepted but unwritten outside the queue: _write
        # and _isolate shrink it as rows commit, so close() can spill exactly the remainder.
        self._inflight = batch
        await self._write()

    async def _write(self) -> None:
        delay = self._retry_initial
        attempts = 0
        suspected_bad_record = False
        while self._inflight:
            batch = self._inflight
            try:
                await self._insert(batch)
            except Exception as exc:  # the writer must survive anything; every failure is counted
                self.failed_attempts += 1
                attempts += 1
                # Repeated failures while the database answers pings: look once for a bad record
                # that the error class did not give away.
                if _is_data_error(exc) or (
                    not suspected_bad_record and attempts >= _ISOLATE_AFTER and await self._database_up()
                ):
                    suspected_bad_record = suspected_bad_record or not _is_data_error(exc)
                    await self._isolate()
                    if not self._inflight:
                        return
                log.error(
                    "writing %d records failed (attempt %d, retrying in %.1fs): %s",
                    len(self._inflight),
                    attempts,
                    delay,
                    _describe(exc),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
            else:
                self.written += len(batch)
                self._inflight = []

    async def _isolate(self) -> None:
        """Write the in-flight records one at a time; spill those the database refuses.

        What is left in ``_inflight`` afterwards failed only because the database is unreachable.
        """
        batch = self._inflight
        suspects: list[tuple[Record, Exception]] = []
        for index, record in enumerate(batch):
            try:
                await self._insert([record])
            except Exception as exc:
                self.failed_attempts += 1
                suspects.append((record, exc))
            else:
                self.written += 1
            self._inflight = [r for r, _ in suspects] + batch[index + 1 :]
        if not suspects:
            return
        # A record failing alone while its neighbours were written and the database answers is bad
        # data whatever the error class says. When none could be written the fault is systemic (a
        # missing table, lost privileges): keep retrying rather than spill everything.
        singled_out = len(suspects) < len(batch) and await self._database_up()
        refused = [(r, e) for r, e in suspects if singled_out or _is_data_error(e)]
        self._inflight = [r for r, e in suspects if not (singled_out or _is_data_error(e))]
        for record, error in refused:
            await self._spill([record], f"refused by the database: {_describe(error)}")

    async def _insert(self, batch: Sequence[Record]) -> None:
        usage = [r for r in batch if isinstance(r, UsageRecord)]
        audit = [_audit_row(r) for r in batch if isinstance(r, AuditRecord)]
        async with self._db.engine.begin() as connection:
            if audit:
                await connection.execute(insert(AuditRow), audit)
            dead = [r.row() for r in batch if isinstance(r, DeadLetterRecord)]
            if dead:
                await connection.execute(insert(DeadLetterRow), dead)
            if usage:
                await insert_request_audits(connection, usage)
                # Last: on PostgreSQL it locks the roll-ups' watermark, which every replica's writer
                # waits for, so the lock is held only for the usage rows and their roll-ups.
                await insert_usage_folded(connection, usage)

    async def _database_up(self) -> bool:
        try:
            await self._db.ping()
        except Exception:
            return False
        return True

    async def _spill(self, records: list[Record], reason: str) -> None:
        if not records:
            return
        self.spilled += len(records)
        lines = [_spill_line(r) for r in records]
        if self._spill_path is not None:
            try:
                await asyncio.to_thread(_append_lines, self._spill_path, lines)
            except OSError as exc:
                log.error("could not spill to %s (%s); records follow", self._spill_path, _describe(exc))
            else:
                log.error("spilled %d records to %s: %s", len(records), self._spill_path, reason)
                return
        for line in lines:
            log.error("unwritten record (%s): %s", reason, line)


def _check_aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError("created_at must be timezone-aware (UTC)")


def _is_data_error(exc: BaseException) -> bool:
    """A failure caused by the records themselves, which retrying cannot fix."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, DBAPIError):
        # asyncpg surfaces bad values as a generic DBAPIError; its SQLSTATE still says "22: data
        # exception" or "23: integrity constraint violation".
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(sqlstate, str) and sqlstate[:2] in ("22", "23")
    # StatementError without a DBAPI error: a value failed to bind (e.g. not JSON-serialisable).
    return isinstance(exc, StatementError)


def _describe(exc: BaseException) -> str:
    # Only the class and the first line: driver messages can run long and quote bound parameters.
    first_line = str(getattr(exc, "orig", None) or exc).splitlines()[0:1]
    return f"{type(exc).__name__}: {first_line[0][:200] if first_line else ''}"


_AUDIT_FIELDS = tuple(f.name for f in fields(AuditRecord))


def _clip(value: str | None, limit: int) -> str | None:
    # Model names and request ids can come from callers; an over-long one must not cost the record.
    return value[:limit] if isinstance(value, str) and len(value) > limit else value


def _audit_row(record: AuditRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in _AUDIT_FIELDS}
    for column, limit in (("request_id", 128), ("action", 128), ("target_id", 255)):
        row[column] = _clip(row[column], limit)
    return row


def _spill_line(record: Record) -> str:
    if isinstance(record, DeadLetterRecord):
        return json.dumps({"kind": "dead_letter", "record": record.row()}, default=str, sort_keys=True)
    if isinstance(record, UsageRecord):
        line = json.dumps({"kind": "usage", "record": usage_row(record)}, default=str, sort_keys=True)
        if record.audit is None:
            return line
        audited = request_audit_row(record, record.audit)
        return line + "\n" + json.dumps({"kind": "request_audit", "record": audited}, default=str, sort_keys=True)
    return json.dumps({"kind": "audit", "record": _audit_row(record)}, default=str, sort_keys=True)


def _append_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
