"""An attempt's I/O with one target: what a wire shaped, completed and sent over the transport.

The wire gives the path, body and the headers its shape needs (``core.exchange.Outbound``). Here the
provider's declared headers and the instance's own go under them, caller headers the provider wants
passed on (by prefix) are added, the credential is resolved and injected by the provider's auth
strategy last (so nothing a caller or wire sets can replace it, and a signature covers the final
request: ``auth.strategies``), the call's deadline caps the timeouts,
and the time spent waiting on the upstream is counted for the overhead metric. Redirects are never
followed (the transport's client has no such feature): a 3xx is an answer, judged by ``classify``.
An absolute URL that a vendor's answer gave (a job's status or stream URL) is sent only to the
provider's own origins: its base URL's, or one its declaration links (the credential goes with it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from api_connector.core.call import Call
from api_connector.core.exchange import Inbound, Outbound
from api_connector.credentials.resolver import CredentialResolver
from api_connector.errors import UpstreamProtocolError, UpstreamTimeout
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.catalog import Target
from api_connector.transport.http import Timeouts, Transport, UpstreamStream

# Told every upstream answer's status and headers (provider quota headers steer routing).
AnswerObserver = Callable[[Target, int, Mapping[str, str]], None]


class Upstreams:
    """What every attempt shares: the transport, the credential resolver, the quota observer."""

    def __init__(
        self, transport: Transport, credentials: CredentialResolver, observe: AnswerObserver | None = None
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        self.observe = observe

    def exchange(self, call: Call, log: AttemptLog, target: Target, secret: str | None = None) -> Exchange:
        """``secret``: use this one instead of the target's credential (a candidate being verified)."""
        return Exchange(self, call, log, target, secret)


class Exchange:
    __slots__ = ("_call", "_log", "_secret", "_up", "target")

    def __init__(
        self, upstreams: Upstreams, call: Call, log: AttemptLog, target: Target, secret: str | None = None
    ) -> None:
        self._up = upstreams
        self._call = call
        self._log = log
        self._secret = secret
        self.target = target

    async def send(self, outbound: Outbound) -> Inbound:
        """The whole answer (any status: the capability judges it)."""
        secret = self._secret
        reference = self.target.credential
        if secret is None and reference is not None:
            secret = self._up.credentials.known(reference) or await self._credential(reference)
        url, headers, query, timeouts = self._complete(outbound)
        instance = self.target.instance
        if secret is not None:
            pending = instance.spec.auth.apply(secret, outbound.method, url, headers, query, outbound.body)
            if pending is not None:
                await pending
        started = time.perf_counter()
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
            self._log.upstream_seconds += time.perf_counter() - started
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
            pending = instance.spec.auth.apply(secret, outbound.method, url, headers, query, outbound.body)
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

    def remaining(self) -> float | None:
        """Seconds left of the call's deadline (None: the call has none), for attempts of several requests."""
        return self._call.remaining()

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
            raise UpstreamTimeout(
                "the request's deadline passed before it could be sent", provider=instance.name, sent=False
            )
        if call.tracing is not None:
            call.tracing.inject(headers)  # W3C traceparent: this attempt's span
        url = instance.base_url + outbound.path if outbound.url is None else self._linked(outbound.url)
        return url, headers, query, instance.timeouts.capped(remaining)

    def _linked(self, url: str) -> str:
        """``url`` if it is on one of the provider's own origins: anywhere else the credential would go too."""
        instance = self.target.instance
        if not own_origin(url, instance.base_url, instance.spec.linked_origins):
            raise UpstreamProtocolError(
                "upstream pointed to a URL outside the provider's own origins; it is not followed",
                provider=instance.name,
                sent=False,
            )
        return url


def own_origin(url: str, base_url: str, linked: tuple[str, ...]) -> bool:
    """Whether ``url`` is on ``base_url``'s origin or a linked one (``https://*.vendor.com``: any of
    its subdomains, over that scheme)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.netloc.lower()
    base = urlsplit(base_url)
    if (scheme, host) == (base.scheme.lower(), base.netloc.lower()):
        return True
    for origin in linked:
        their_scheme, _, their_host = origin.lower().partition("://")
        if scheme != their_scheme:
            continue
        if host == their_host or (their_host.startswith("*.") and host.endswith(their_host[1:])):
            return True
    return False

