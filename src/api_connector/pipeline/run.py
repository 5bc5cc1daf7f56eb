"""One call's passage through the pipeline: its facts, its typed request, what happened, what came back.

Layers fill in what they learn (the reservations held, the attempt log, the answer) and register what
must happen once the answer has been delivered (``on_end``): a slot given back, limits settled, the
usage recorded, the cache filled. For a whole answer that is when the caller has it; for a stream,
when its last byte went out or it broke. ``end`` runs them once, innermost first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from api_connector.core.call import Call
from api_connector.core.usage import Usage
from api_connector.errors import ClientClosed, ConnectorError
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.streams import AnswerStream

if TYPE_CHECKING:
    from api_connector.capabilities.base import CapabilitySpec
    from api_connector.governance.wiring import Scope

Req = TypeVar("Req")
Res = TypeVar("Res")
Source = Literal["upstream", "cache", "stale", "coalesced"]
EndHook = Callable[["Run[Any, Any]", "ConnectorError | None"], "Awaitable[None] | None"]
log = logging.getLogger(__name__)


class Run(Generic[Req, Res]):
    __slots__ = (
        "_ends",
        "asked",
        "call",
        "headers",
        "log",
        "request",
        "result",
        "scope",
        "source",
        "spec",
        "stream",
    )

    def __init__(self, call: Call, spec: CapabilitySpec[Req, Res], request: Req) -> None:
        self.call = call
        self.spec = spec
        self.request = request  # what the layers below the cache send: it may narrow it to what it lacks
        self.asked = request  # the request as the caller sent it
        self.log = AttemptLog()
        self.result: Res | None = None  # a whole answer
        self.stream: AnswerStream | None = None  # or a streamed one
        self.source: Source = "upstream"
        self.scope: Scope | None = None  # the caller's and the current attempt's reservations
        self.headers: dict[str, str] = {}  # for the caller's answer (x-ratelimit-*, x-cache)
        self._ends: list[EndHook] = []

    def on_end(self, hook: EndHook) -> None:
        self._ends.append(hook)

    def usage(self) -> Usage:
        """What the answer used (for a stream: so far, final once it ended)."""
        if self.result is not None:
            return self.spec.usage(self.result)
        if self.stream is not None:
            return self.stream.usage
        return Usage()

    def failure(self, error: BaseException | None) -> ConnectorError | None:
        """How the call ended: the error that stopped it, a stream's break, or None for success."""
        if error is None:
            stream = self.stream
            if stream is not None and not stream.complete:
                return stream.error or ClientClosed("the stream was not read to its end")
            return None
        if isinstance(error, ConnectorError):
            return error
        return ClientClosed("client went away during the answer")

    def end(self, error: BaseException | None) -> list[Awaitable[None]]:
        """Run every end hook once, innermost first; what some of them still await is returned.

        A hook that fails is logged and the others still run. Kept free of a coroutine of its own:
        it runs on every call.
        """
        failure = self.failure(error)
        if self.stream is not None:
            self.stream.close()  # a stream left unread (the client went away) lets go of its upstream
        hooks, self._ends = self._ends, []
        pending: list[Awaitable[None]] = []
        for hook in reversed(hooks):
            try:
                waiting = hook(self, failure)
            except Exception:
                log.exception("a pipeline end hook failed (request %s)", self.call.request_id)
                continue
            if waiting is not None:
                pending.append(waiting)
        return pending
