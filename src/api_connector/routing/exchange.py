"""An attempt's I/O with one target: what a wire shaped, completed and sent over the transport.

The wire gives the path, body and the headers its shape needs (``core.exchange.Outbound``). Here the
provider's declared headers and the instance's own go under them, caller headers the provider wants
passed on (by prefix) are added, the credential is resolved and injected by the provider's auth
strategy last (so nothing a caller or wire sets can replace it, and a signature covers the final
request: ``auth.strategies``), the call's deadline caps the timeouts,
and the time spent waiting on the upstream is counted for the overhead metric. Redirects are never
followed (the transport's client has no such feature): a 3xx is an answer, judged by ``classify``.
Strategies that trade their secret for a token are bound once per process to ``TokenEndpoints`` (the
transport, on a pool under the address guard), which keeps their tokens per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from api_connector.auth.strategies import Auth, ExchangingAuth
from api_connector.core.call import Call
from api_connector.core.exchange import Inbound, Outbound
from api_connector.credentials.resolver import CredentialResolver
from api_connector.errors import DeadlinePassed
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.catalog import Target
from api_connector.transport.http import Timeouts, Transport, UpstreamStream

# Told every upstream answer's status and headers (provider quota headers steer routing).
AnswerObserver = Callable[[Target, int, Mapping[str, str]], None]
_FORM = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
_TOKEN_TIMEOUTS = Timeouts(connect=5.0, read=15.0, total=20.0)


class TokenEndpoints:
    """How auth strategies reach token endpoints: the transport, on a pool of its own that connects
    only where the address policy allows (a token URI comes with the secret, not the operator)."""

    POOL = "auth:token-endpoints"

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        transport.configure_pool(self.POOL, max_connections=8, guarded=True)

    async def post_form(self, url: str, form: Mapping[str, str]) -> tuple[int, bytes]:
        answer = await self._transport.send(
            self.POOL, "POST", url, headers=_FORM, body=urlencode(form).encode(), timeouts=_TOKEN_TIMEOUTS
        )
        return answer.status, answer.body


class Upstreams:
    """What every attempt shares: the transport, the credential resolver, the quota observer."""

    def __init__(
        self, transport: Transport, credentials: CredentialResolver, observe: AnswerObserver | None = None
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        self.observe = observe
        self.tokens = TokenEndpoints(transport)
        self._bound: dict[int, tuple[Auth, Auth]] = {}

    def auth(self, strategy: Auth) -> Auth:
        """``strategy`` as this process uses it: bound to the token endpoints if it exchanges its secret."""
        entry = self._bound.get(id(strategy))
        if entry is None or entry[0] is not strategy:
            bound = strategy.bind(self.tokens) if isinstance(strategy, ExchangingAuth) else strategy
            entry = self._bound[id(strategy)] = (strategy, bound)
        return entry[1]

    def exchange(self, call: Call, log: AttemptLog, target: Target, secret: str | None = None) -> Exchange:
        """``secret``: use this one instead of the target's credential (a candidate being verified)."""
        return Exchange(self, call, log, target, secret)


class Exchange:
    __slots__ = ("_call", "_log", "_secret", "_sending", "_since", "_up", "target")

    def __init__(
        self, upstreams: Upstreams, call: Call, log: AttemptLog, target: Target, secret: str | None = None
    ) -> None:
        self._up = upstreams
        self._call = call
        self._log = log
        self._secret = secret
        self.target = target
        # Sends of one attempt may overlap (an embeddings request in batches): time spent waiting on
        # them together counts once, or the gateway's own overhead (total minus upstream) would go below 0.
        self._sending = 0
        self._since = 0.0

    async def send(self, outbound: Outbound) -> Inbound:
        """The whole answer (any status: the capability judges it)."""
        secret = self._secret
        reference = self.target.credential
        if secret is None and reference is not None:
            secret = self._up.credentials.known(reference) or await self._credential(reference)
        url, headers, query, timeouts = self._complete(outbound)
        instance = self.target.instance
        if secret is not None:
            auth = self._up.auth(instance.spec.auth)
            pending = auth.apply(secret, outbound.method, url, headers, query, outbound.body)
            if pending is not None:
                await pending
        if not self._sending:
            self._since = time.perf_counter()
        self._sending += 1
        try:
            response = await self._up.transport.send(
                instance.pool,
                outbound.method,
                url,
                headers=headers,
                body=outbound.body,
                timeouts=timeouts,
                params=query,
                local=instance.spec.local,
                path=outbound.path,
            )
        finally:
            self._sending -= 1
            if not self._sending:
                self._log.upstream_seconds += time.perf_counter() - self._since
        if self._up.observe is not None:
            self._up.observe(self.target, response.status, response.headers)
        return response

    async def open(self, outbound: Outbound) -> UpstreamStream:
        """The answer's head, its body to be read as it arrives (the caller closes it)."""
        secret = self._secret
        reference = self.target.credential
        if secret is None and reference is not None:
            secret = self._up.credentials.known(reference) or await self._credential(reference)
        url, headers, query, timeouts = self._complete(outbound)
        instance = self.target.instance
        if secret is not None:
            auth = self._up.auth(instance.spec.auth)
            pending = auth.apply(secret, outbound.method, url, headers, query, outbound.body)
            if pending is not None:
                await pending
        upstream = await self._up.transport.open_stream(
            instance.pool,
            outbound.method,
            url,
            headers=headers,
            body=outbound.body,
            timeouts=timeouts,
            params=query,
            local=instance.spec.local,
            path=outbound.path,
        )
        if self._up.observe is not None:
            self._up.observe(self.target, upstream.status, upstream.headers)
        return upstream

    async def _credential(self, reference: str) -> str:
        """A secret some store must be asked for (``env:`` ones are read without this coroutine)."""
        return await self._up.credentials.resolve(reference, self._call, self.target.credential_owner)

    def _complete(self, outbound: Outbound) -> tuple[str, dict[str, str], dict[str, str], Timeouts]:
        """Headers from the spec and the instance, forwarded controls, the wire's (the credential goes on
        last, by the provider's auth strategy, over the final request)."""
        call, target = self._call, self.target
        instance = target.instance
        spec = instance.spec
        headers = dict(instance.base_headers)
        if call.forward_headers and spec.passthrough_header_prefixes:
            for name, value in call.forward_headers.items():
                if name.startswith(spec.passthrough_header_prefixes):
                    headers[name] = value
        headers.update(outbound.headers)
        query = dict(outbound.query) if outbound.query else {}
        if instance.query:
            query.update(instance.query)  # the operator's own (an api-version override) over the wire's
        remaining = call.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlinePassed(
                "the request's deadline passed before it could be sent", provider=instance.name, sent=False
            )
        if call.tracing is not None:
            call.tracing.inject(headers)  # W3C traceparent: this attempt's span
        return instance.base_url + outbound.path, headers, query, instance.timeouts.capped(remaining)

