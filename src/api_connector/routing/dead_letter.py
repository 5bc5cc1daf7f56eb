"""The last step of the pipeline: keep a request that failed on every target, and replay it later.

``DeadLetters.capture`` hands the entry to the batch writer (the request path never waits on the
database; a full queue applies back-pressure, as for usage records). What is kept is the request as
the caller sent it, before the service added a credential, scrubbed of every secret value the service
knows and of any header that carries one; plus every attempt with its error and timing.

``replay`` sends a stored request through the whole pipeline again (routing, breakers, retries,
usage records) as the project and key that first sent it, and records the outcome on the entry. A
replay that fails again does not make a new entry. Streamed chat requests are replayed unstreamed:
nobody is listening to a stream.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import ConnectorError, UpstreamError, ValidationFailed
from api_connector.observability.redaction import Redactor
from api_connector.routing.dispatch import CallContext, Dispatcher
from api_connector.storage.dlq import DeadLetter, DeadLetterRecord, DeadLetterStore
from api_connector.storage.models import new_id

if TYPE_CHECKING:
    from api_connector.observability.recorder import Recorder
    from api_connector.storage.record_writer import RecordWriter

log = logging.getLogger(__name__)
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"})


class DeadLetters:
    def __init__(self, writer: RecordWriter, redactor: Redactor) -> None:
        self._writer = writer
        self._redactor = redactor
        self.captured = 0

    async def capture(
        self, ctx: CallContext, kind: str, target: str, payload: dict[str, Any], error: UpstreamError
    ) -> None:
        kept = dict(payload)
        if isinstance(kept.get("headers"), dict):
            kept["headers"] = {k: v for k, v in kept["headers"].items() if k.lower() not in _SECRET_HEADERS}
        kept["forward_headers"] = {k: v for k, v in ctx.forward_headers.items() if k.lower() not in _SECRET_HEADERS}
        kept["retries"] = ctx.retries
        record = DeadLetterRecord(
            id=new_id("dlq"),
            request_id=ctx.request_id,
            project_id=ctx.project_id,
            key_id=ctx.key_id,
            kind=kind,
            capability=ctx.capability.value,
            target=target,
            error_code=error.code,
            error_message=self._redactor.scrub(error.message),
            payload=self._scrub(kept),
            attempts=self._scrub(ctx.trace),
        )
        try:
            if not self._writer.submit(record):
                await self._writer.submit_wait(record)  # back-pressure, never a silent drop
        except RuntimeError:  # the writer closed under us (shutdown): say so rather than lose it quietly
            log.error("dead letter for request %s could not be queued: the writer is closed", ctx.request_id)
            return
        self.captured += 1

    def _scrub(self, value: Any) -> Any:
        return orjson.loads(self._redactor.scrub(orjson.dumps(value, default=str).decode("utf-8")))


@dataclass(slots=True)
class ReplayOutcome:
    entry_id: str
    request_id: str
    outcome: str  # "success" or the error code
    data: Any = None  # the answer's body (parsed JSON when it is JSON)
    status: int | None = None
    error: ConnectorError | None = None


async def replay(
    entry: DeadLetter,
    *,
    dispatcher: Dispatcher,
    recorder: Recorder,
    store: DeadLetterStore,
    request_id: str,
) -> ReplayOutcome:
    """Send ``entry`` through the pipeline again and record the outcome on it."""
    payload = entry.payload
    ctx = CallContext(
        request_id=request_id,
        project_id=entry.project_id,
        key_id=entry.key_id,
        capability=Capability(entry.capability),
        forward_headers=dict(payload.get("forward_headers") or {}),
        retries=int(payload.get("retries", 1)),
        dead_letter=False,
    )
    started = time.perf_counter()
    usage: Usage | None = None
    try:
        if entry.kind == "chat":
            (usage, data), status = await _replay_chat(dispatcher, ctx, payload), 200
        else:
            data, status = await _replay_request(dispatcher, ctx, payload)
    except ConnectorError as error:
        await recorder.finish(ctx, started=started, error=error)
        await store.record_replay(entry.id, error.code, request_id)
        return ReplayOutcome(entry.id, request_id, error.code, status=error.with_status(), error=error)
    await recorder.finish(ctx, started=started, usage=usage)
    await store.record_replay(entry.id, "success", request_id)
    return ReplayOutcome(entry.id, request_id, "success", data=data, status=status)


async def _replay_chat(dispatcher: Dispatcher, ctx: CallContext, payload: dict[str, Any]) -> tuple[Usage, Any]:
    body = dict(payload.get("body") or {})
    body["stream"] = False
    body.pop("stream_options", None)
    try:
        request = ChatRequest.from_json_obj(body)
    except ValueError as exc:
        raise ValidationFailed(f"the stored request is no longer valid: {exc}") from None
    result = await dispatcher.chat(ctx, request)
    return result.usage, orjson.loads(result.body)


async def _replay_request(dispatcher: Dispatcher, ctx: CallContext, payload: dict[str, Any]) -> tuple[Any, int]:
    instance = dispatcher.catalog.instance(ctx.project_id, str(payload["provider"]))
    body: bytes | None = None
    if payload.get("body_kind") == "json":
        body = orjson.dumps(payload.get("body"))
    elif payload.get("body") is not None:
        body = str(payload["body"]).encode("utf-8")
    headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
    response = await dispatcher.send_raw(ctx, instance, str(payload["method"]), str(payload["endpoint"]), headers, body)
    data: Any = response.body.decode("utf-8", "replace")
    if "json" in response.headers.get("content-type", ""):
        with contextlib.suppress(orjson.JSONDecodeError):
            data = orjson.loads(response.body)
    return data, response.status
