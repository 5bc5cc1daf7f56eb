"""Keeping a call that failed on every target, for a later replay (``pipeline.replay``).

``DeadLetters.capture`` hands the entry to the batch writer (the request path never waits on the
database; a full queue applies back-pressure, as for usage records). What is kept is the request as
the caller sent it (its capability's own form), before the service added a credential, scrubbed of
every secret value the service knows and of any header that carries one; plus every attempt with its
error and timing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from api_connector.core.call import Call
from api_connector.errors import UpstreamError
from api_connector.observability.redaction import Redactor
from api_connector.routing.attempts import AttemptLog
from api_connector.storage.dlq import DeadLetterRecord
from api_connector.storage.models import new_id

if TYPE_CHECKING:
    from api_connector.storage.record_writer import RecordWriter

log = logging.getLogger(__name__)
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"})


class DeadLetters:
    def __init__(self, writer: RecordWriter, redactor: Redactor) -> None:
        self._writer = writer
        self._redactor = redactor
        self.captured = 0

    async def capture(
        self, call: Call, attempts: AttemptLog, kind: str, target: str, payload: dict[str, Any], error: UpstreamError
    ) -> None:
        kept = dict(payload)
        if isinstance(kept.get("headers"), dict):
            kept["headers"] = {k: v for k, v in kept["headers"].items() if k.lower() not in _SECRET_HEADERS}
        kept["forward_headers"] = {k: v for k, v in call.forward_headers.items() if k.lower() not in _SECRET_HEADERS}
        kept["retries"] = call.retries
        record = DeadLetterRecord(
            id=new_id("dlq"),
            request_id=call.request_id,
            project_id=call.project_id,
            key_id=call.key_id,
            kind=kind,
            capability=call.capability.value,
            target=target,
            error_code=error.code,
            error_message=self._redactor.scrub(error.message),
            payload=self._scrub(kept),
            attempts=self._scrub(attempts.as_json()),
        )
        try:
            if not self._writer.submit(record):
                await self._writer.submit_wait(record)  # back-pressure, never a silent drop
        except RuntimeError:  # the writer closed under us (shutdown): say so rather than lose it quietly
            log.error("dead letter for request %s could not be queued: the writer is closed", call.request_id)
            return
        self.captured += 1

    def _scrub(self, value: Any) -> Any:
        return orjson.loads(self._redactor.scrub(orjson.dumps(value, default=str).decode("utf-8")))
