"""Replaying a dead letter: the stored request through the whole pipeline again.

As the project and key that first sent it (routing, breakers, retries, limits, usage records), as a
whole answer (nobody is listening to a stream), and without making a new dead letter if it fails
again: the outcome is recorded on the entry it came from.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api_connector.capabilities import BY_KIND
from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.errors import ConnectorError, ValidationFailed
from api_connector.pipeline.pipeline import Pipeline
from api_connector.routing.catalog import Catalog
from api_connector.storage.dlq import DeadLetter, DeadLetterStore


@dataclass(slots=True)
class ReplayOutcome:
    entry_id: str
    request_id: str
    outcome: str  # "success" or the error code
    data: Any = None  # the answer's body (parsed JSON when it is JSON)
    status: int | None = None
    error: ConnectorError | None = None


async def replay(
    entry: DeadLetter, *, pipeline: Pipeline, catalog: Catalog, store: DeadLetterStore, request_id: str
) -> ReplayOutcome:
    """Send ``entry`` through the pipeline again and record the outcome on it."""
    payload: Mapping[str, Any] = entry.payload
    try:
        spec = BY_KIND[entry.kind]
        request = spec.from_dead_letter(catalog, entry.project_id, payload)
        call = Call(
            request_id=request_id,
            project_id=entry.project_id,
            key_id=entry.key_id,
            capability=Capability(entry.capability),
            started=time.perf_counter(),
            forward_headers=dict(payload.get("forward_headers") or {}),
            retries=int(payload.get("retries", 1)),
            dead_letter=False,
        )
        async with pipeline.run(call, spec, request) as run:
            status, data = spec.answer_json(run.result)
    except KeyError:
        error: ConnectorError = ValidationFailed(f"dead letters of kind {entry.kind!r} cannot be replayed")
        return await _failed(store, entry, request_id, error)
    except ConnectorError as failure:
        return await _failed(store, entry, request_id, failure)
    await store.record_replay(entry.id, "success", request_id)
    return ReplayOutcome(entry.id, request_id, "success", data=data, status=status)


async def _failed(store: DeadLetterStore, entry: DeadLetter, request_id: str, error: ConnectorError) -> ReplayOutcome:
    await store.record_replay(entry.id, error.code, request_id)
    return ReplayOutcome(entry.id, request_id, error.code, status=error.with_status(), error=error)
