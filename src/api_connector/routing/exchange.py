"""An attempt's I/O with one target: what a wire shaped, completed and sent over the transport.

The wire gives the path, body and the headers its shape needs (``core.exchange.Outbound``). Here the
provider's declared headers and the instance's own go under them, caller headers the provider wants
passed on (by prefix) are added, the credential is resolved and injected by the provider's auth
strategy last (so nothing a caller or wire sets can replace it, and a signature covers the final
request: ``auth.strategies``), the call's deadline caps the timeouts,
and the time spent waiting on the upstream is counted for the overhead metric. Redirects are never
followed (the transport's client has no such feature): a 3xx is an answer, judged by ``classify``.

A strategy that trades its secret for a token first (``auth.strategies.Bindable``: Entra ID, ...) is
bound once to this service: it keeps its tokens here and asks for them through ``TokenRequests`` (the
service's transport, on a pool of its own under the address guard), within the call's deadline.
An absolute URL that a vendor's answer gave (a job's status or stream URL) is sent only to the
provider's own origins: its base URL's, or one its declaration links (the credential goes with it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlencode, urlsplit

from api_connector.auth.strategies import Auth, Bindable
from api_connector.core.call import Call
from api_connector.core.exchange import Inbound, Outbound
from api_connector.credentials.resolver import CredentialResolver
from api_connector.errors import DeadlinePassed, UpstreamError, UpstreamProtocolError, UpstreamTimeout
from api_connector.observability.redaction import Redactor
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.catalog import Target
from api_connector.routing.classify import classify_token_refusal
from api_connector.transport.http import Timeouts, Transport, UpstreamStream
from api_connector.wire.base import VendorError

# Told every upstream answer's status and headers (provider quota headers steer routing).
AnswerObserver = Callable[[Target, int, Mapping[str, str]], None]
_TOKEN_POOL = "auth-tokens"
_TOKEN_TIMEOUTS = Timeouts(connect=5.0, read=10.0, total=15.0)
_FORM = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}


class TokenRequests:
    """What this service lends bound auth strategies (``auth.strategies.AuthIO``)."""

    __slots__ = ("_redactor", "_transport")

    def __init__(self, transport: Transport, redactor: Redactor) -> None:
        self._transport = transport
        self._redactor = redactor
        # Token endpoints may be named by a secret (an authority, a token URI): held to the SSRF policy.
        transport.configure_pool(_TOKEN_POOL, max_connections=8, guarded=True)

    async def post_form(
        self, url: str, form: Mapping[str, str], decode_error: Callable[[bytes], VendorError | None]
    ) -> bytes:
        try:
            answer = await self._transport.send(
                _TOKEN_POOL, "POST", url, headers=_FORM, body=urlencode(form).encode(), timeouts=_TOKEN_TIMEOUTS
            )
        except UpstreamError as failure:
            failure.sent = False  # the request the token was for never left
            raise
        if not 200 <= answer.status < 300:
            said = decode_error(answer.body) if answer.body else None
            raise classify_token_refusal(answer.status, said, answer.headers)
        return answer.body

    def keep_secret(self, value: str) -> None:
        self._redactor.add(value)


class Upstreams:
    """What every attempt shares: the transport, the credential resolver, the quota observer."""

    def __init__(
        self, transport: Transport, credentials: CredentialResolver, observe: AnswerObserver | None = None
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        self.observe = observe
        self.tokens = TokenRequests(transport, credentials.redactor)
        self._bound: dict[int, tuple[Auth | Bindable, Auth]] = {}

    def auth(self, declared: Auth | Bindable) -> Auth:
        """The strategy as this service runs it: a bindable one is bound once and kept (with its tokens)."""
        entry = self._bound.get(id(declared))
        if entry is None or entry[0] is not declared:
            running = declared.bind(self.tokens) if isinstance(declared, Bindable) else declared
            entry = self._bound[id(declared)] = (declared, running)
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
            pending = auth.apply(secret, outbound.method, url, headers, query, _signable(outbound))
            if pending is not None:
                await _presented(pending, self._call.remaining())
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
            pending = auth.apply(secret, outbound.method, url, headers, query, _signable(outbound))
            if pending is not None:
                await _presented(pending, self._call.remaining())
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
            raise DeadlinePassed(
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


def _signable(outbound: Outbound) -> bytes | None:
    """The body an auth strategy may sign: a streamed one (an upload) is never held whole for that, and
    no provider that signs its requests (SigV4) takes one."""
    body = outbound.body
    return body if isinstance(body, bytes) else None


async def _presented(pending: Awaitable[None], remaining: float | None) -> None:
    """A credential being exchanged for a token, within what is left of the call's deadline."""
    try:
        async with asyncio.timeout(remaining):
            await pending
    except TimeoutError:
        raise UpstreamTimeout("no token for the credential came in time", sent=False) from None
