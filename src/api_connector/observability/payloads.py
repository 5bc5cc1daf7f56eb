"""The request audit's bodies: each project's policy, and what a call in ``sanitized`` mode keeps.

On the request path a ``PayloadTap`` only holds what the pipeline already has: the typed request as the
caller sent it, the whole answer, or, for a stream, a reference to each piece as it passes (after the
secret scrubber) plus a running byte count. Nothing is copied, serialised or searched there. The batch
writer asks for ``stored()``: each body as its capability renders it for the audit, the configured
fields redacted, serialised, every known secret masked (values the vault and the environment handed
out, and anything shaped like a key), and cut to the project's ``max_body_bytes``. Audio and other
binary answers keep their type and size only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from api_connector.errors import ConnectorError
from api_connector.observability.payload_paths import Path, parse_path, redact
from api_connector.observability.redaction import Redactor
from api_connector.observability.settings_model import PayloadMode, RequestAuditConfig
from api_connector.storage.request_audit import NO_BODY, Payloads, StoredBody

if TYPE_CHECKING:
    from api_connector.capabilities.base import CapabilitySpec
    from api_connector.routing.streams import AnswerStream

JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class PayloadBody:
    """A body as a capability renders it for the audit: JSON data (a str is kept as text), or with
    ``kept`` False only its type and size (audio, binary)."""

    type: str
    data: Any = None
    size: int | None = None  # bytes as it passed; None: measured from the data
    kept: bool = True


def json_body(data: Any) -> PayloadBody:
    return PayloadBody(JSON_TYPE, data)


@dataclass(frozen=True, slots=True)
class PayloadPolicy:
    """One project's request audit, resolved from the ``audit:`` section."""

    mode: PayloadMode
    retention_days: int
    max_bytes: int
    redact: tuple[Path, ...] = ()


class AuditPolicies:
    """Each project's policy; a project without an entry of its own has the section's."""

    __slots__ = ("_projects", "default", "purge_interval", "sanitizing")

    def __init__(self, config: RequestAuditConfig) -> None:
        paths = tuple(parse_path(path) for path in config.redact)
        self.default = PayloadPolicy(config.payloads, config.retention_days, config.max_body_bytes, paths)
        self.purge_interval = config.purge_interval
        self._projects = {
            project_id: PayloadPolicy(
                own.payloads or config.payloads,
                own.retention_days or config.retention_days,
                own.max_body_bytes or config.max_body_bytes,
                paths + tuple(parse_path(path) for path in own.redact),
            )
            for project_id, own in config.projects.items()
        }
        # Whether any call keeps bodies: when none does, the record layer never looks a policy up.
        self.sanitizing = any(p.mode == "sanitized" for p in (self.default, *self._projects.values()))

    def of(self, project_id: str) -> PayloadPolicy:
        return self._projects.get(project_id, self.default)

    def retention_days(self, project_id: str) -> int:
        return self.of(project_id).retention_days

    def retentions(self) -> list[tuple[str | None, int]]:
        """(project, retention_days) of each project with a policy of its own, then (None, the default's)
        for every other project."""
        own = [(project, policy.retention_days) for project, policy in self._projects.items()]
        return [*own, (None, self.default.retention_days)]

    @property
    def own_projects(self) -> tuple[str, ...]:
        return tuple(self._projects)


class PayloadTap(Payloads):
    """One ``sanitized`` call's request and answer, held as the pipeline had them until the writer asks."""

    __slots__ = ("_assemble", "_pieces", "_policy", "_redactor", "_request", "_size", "_spec", "_stored", "_type")

    def __init__(self, spec: CapabilitySpec[Any, Any], request: Any, policy: PayloadPolicy, redactor: Redactor) -> None:
        self._spec = spec
        self._request = request
        self._policy = policy
        self._redactor = redactor
        self._assemble: Callable[[list[bytes]], PayloadBody] | None = None
        self._pieces: list[bytes] | None = None
        self._size = 0
        self._type: str | None = None
        self._stored: tuple[StoredBody, StoredBody] | None = None
        self.result: Any = None
        self.failure: ConnectorError | None = None
        self.streamed = False

    def watch(self, stream: AnswerStream) -> None:
        """Follow a streamed answer: its size always, its pieces when the capability renders them."""
        self.streamed = True
        self._type = stream.headers.get("content-type")
        self._assemble = self._spec.audit_stream(stream)
        pieces = self._pieces = [] if self._assemble is not None else None

        def tap(batch: list[bytes]) -> list[bytes]:
            self._size += sum(map(len, batch))
            if pieces is not None:
                pieces.extend(batch)
            return batch

        stream.add_filter(tap)

    def stored(self) -> tuple[StoredBody, StoredBody]:
        if self._stored is None:  # once: a batch the database refused is written again
            self._stored = (self._render(self._spec.audit_request(self._request)), self._answer())
        return self._stored

    def _answer(self) -> StoredBody:
        if self.streamed:
            if self._assemble is None or self._pieces is None:
                return StoredBody(self._type or "application/octet-stream", self._size)
            body = self._assemble(self._pieces)
            return self._render(PayloadBody(body.type, body.data, self._size, body.kept))
        if self.result is not None:
            return self._render(self._spec.audit_answer(self.result))
        if self.failure is not None:
            error = {"error": {"code": self.failure.code, "message": self.failure.message}}
            return self._render(json_body(error))
        return NO_BODY

    def _render(self, body: PayloadBody) -> StoredBody:
        if not body.kept:
            return StoredBody(body.type, body.size)
        data, size = body.data, body.size
        if size is None:
            size = len(data.encode()) if isinstance(data, str) else len(orjson.dumps(data, default=str))
        data = redact(data, self._policy.redact)
        text = data if isinstance(data, str) else orjson.dumps(data, default=str).decode()
        text = self._redactor.scrub(text)
        cut, truncated = _capped(text, self._policy.max_bytes)
        return StoredBody(body.type, size, cut, truncated)


def _capped(text: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` bytes of UTF-8, never a character cut in two."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", "ignore"), True
