"""Structured JSON logs: one object a line, the request id on every line, secrets scrubbed by value."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

from api_connector.observability.redaction import Redactor

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The address of the client whose request is being served: every audit event written meanwhile names it.
client_var: ContextVar[str | None] = ContextVar("client_address", default=None)


def _add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    rid = request_id_var.get()
    if rid is not None and "request_id" not in event:
        event["request_id"] = rid
    return event


def _serialise_redacted(redactor: Redactor) -> Any:
    """Render to JSON, then scrub the whole line: no field or nested value can carry a secret out."""

    def render(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
        line = orjson.dumps(event, default=str).decode("utf-8")
        return redactor.scrub(line)

    return render


def configure_logging(level: str, service: str, redactor: Redactor, stream: Any = None) -> None:
    """Set up structlog (and route the standard library's logging through the same scrubbing)."""
    numeric = logging.getLevelName(level)
    out = stream or sys.stdout

    def add_service(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("service", service)
        return event

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_service,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            _serialise_redacted(redactor),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(_StdlibJSON(redactor, service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
    for noisy in ("aiohttp.access", "sqlalchemy.engine", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _StdlibJSON(logging.Formatter):
    def __init__(self, redactor: Redactor, service: str) -> None:
        super().__init__()
        self._redactor = redactor
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self._service,
        }
        rid = request_id_var.get()
        if rid:
            event["request_id"] = rid
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return self._redactor.scrub(orjson.dumps(event, default=str).decode("utf-8"))


def get_logger(name: str = "api_connector") -> Any:
    return structlog.get_logger(name)
