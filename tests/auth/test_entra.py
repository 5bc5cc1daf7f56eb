"""Entra ID client credentials against a loopback token endpoint: a token is asked once and kept until
shortly before it expires, calls waiting at once share one request, failures leave nothing behind,
refusals are the target's authentication failures, and a malformed secret is never echoed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from api_connector.auth.entra import EntraClientCredentials, EntraTokens
from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Outbound
from api_connector.credentials.resolver import CredentialResolver
from api_connector.errors import (
    CredentialMalformed,
    UpstreamAuthFailed,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamServerError,
    UpstreamTimeout,
)
from api_connector.observability.redaction import Redactor
from api_connector.providers import REGISTRY
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.catalog import ProviderInstance, Target
from api_connector.routing.classify import decide
from api_connector.routing.exchange import Upstreams
from api_connector.transport.http import Timeouts, Transport
from tests.replay_upstream import loopback_server

TENANT = "contoso.onmicrosoft.com"
CLIENT = "00001111-aaaa-2222-bbbb-3333cccc4444"
CLIENT_SECRET = "qWgdYAmab0YSkuL1qKv5bPX"
# Entra's documented error for a client whose secret is wrong (Microsoft identity platform, client
# credentials flow, "Error response example"), with AADSTS7000215 as Entra answers a wrong secret.
REFUSAL = {
    "error": "invalid_client",
    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
    "request is the client secret value, not the client secret ID, for a secret added to app "
    "'00001111-aaaa-2222-bbbb-3333cccc4444'.\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\n"
    "Correlation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2016-01-09 02:02:12Z",
    "error_codes": [7000215],
    "timestamp": "2016-01-09 02:02:12Z",
    "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
    "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
}


@dataclass
class LoginServer:
    """A token endpoint: each request gets the next scripted answer, else a new token."""

    base_url: str = ""
    asked: list[tuple[str, dict[str, list[str]], str]] = field(default_factory=list)  # path, form, content type
    script: list[tuple[int, Any]] = field(default_factory=list)
    delay: float = 0.0
    expires_in: int | str = 3599

    async def handle(self, request: web.Request) -> web.Response:
        form = parse_qs((await request.read()).decode())
        self.asked.append((request.path, form, request.headers.get("content-type", "")))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script:
            status, body = self.script.pop(0)
        else:
            status, body = 200, {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": 3599,
                                 "access_token": f"token-{len(self.asked)}"}
        return web.json_response(body, status=status)

    def secret(self, **fields: str) -> str:
        base = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": CLIENT_SECRET, "authority": self.base_url}
        return json.dumps({**base, **fields})


@pytest.fixture
async def login() -> AsyncIterator[LoginServer]:
    server = LoginServer()
    async with loopback_server(server.handle) as base_url:
        server.base_url = base_url
        yield server


@dataclass
class Service:
    upstreams: Upstreams
    redactor: Redactor
    transport: Transport


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    redactor = Redactor()
    transport = Transport(allow_private=True)
    try:
        yield Service(Upstreams(transport, CredentialResolver({}, redactor)), redactor, transport)
    finally:
        await transport.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bound(service: Service, clock: Clock | None = None) -> EntraTokens:
    return EntraClientCredentials().bind(service.upstreams.tokens, clock or time.monotonic)


async def present(strategy: EntraTokens, secret: str) -> tuple[str, bool]:
    """The Authorization header the strategy sets, and whether it had to wait for it."""
    headers: dict[str, str] = {}
    pending = strategy.apply(secret, "POST", "https://example.openai.azure.com/x", headers, {}, b"{}")
    if pending is not None:
        await pending
    return headers["Authorization"], pending is not None


async def test_a_token_is_asked_once_and_sent_as_a_bearer_token(login: LoginServer, service: Service) -> None:
    strategy = service.upstreams.auth(REGISTRY["azure_openai_entra"].auth)
    assert isinstance(strategy, EntraTokens)
    assert service.upstreams.auth(REGISTRY["azure_openai_entra"].auth) is strategy, "bound once per service"
    secret = login.secret()
    assert await present(strategy, secret) == ("Bearer token-1", True)
    assert await present(strategy, secret) == ("Bearer token-1", False), "kept: no await on the common path"
    ((path, form, content_type),) = login.asked
    assert path == f"/{TENANT}/oauth2/v2.0/token"
    assert content_type == "application/x-www-form-urlencoded"
    assert form == {
        "grant_type": ["client_credentials"], "client_id": [CLIENT], "client_secret": [CLIENT_SECRET],
        "scope": ["https://cognitiveservices.azure.com/.default"],
    }
    assert CLIENT_SECRET in service.redactor, "the client secret is masked wherever the service writes"


async def test_a_token_is_replaced_shortly_before_it_expires(login: LoginServer, service: Service) -> None:
    clock = Clock()
    strategy, secret = bound(service, clock), login.secret()
    assert await present(strategy, secret) == ("Bearer token-1", True)
    clock.now += 3599 - 300 - 1  # five minutes before an hour's token expires, less a second
    assert await present(strategy, secret) == ("Bearer token-1", False)
    clock.now += 2
    assert await present(strategy, secret) == ("Bearer token-2", True)
    assert len(login.asked) == 2


async def test_a_short_token_is_used_for_half_its_life(login: LoginServer, service: Service) -> None:
    clock, login.expires_in = Clock(), "10"  # some endpoints send the lifetime as a string
    strategy, secret = bound(service, clock), login.secret()
    await present(strategy, secret)
    clock.now += 4.9
    assert await present(strategy, secret) == ("Bearer token-1", False)
    clock.now += 0.2
    assert await present(strategy, secret) == ("Bearer token-2", True)


async def test_calls_waiting_at_once_share_one_request(login: LoginServer, service: Service) -> None:
    login.delay = 0.2
    strategy, secret = bound(service), login.secret()
    presented = await asyncio.gather(*(present(strategy, secret) for _ in range(20)))
    assert {header for header, _ in presented} == {"Bearer token-1"}
    assert len(login.asked) == 1


async def test_each_credential_has_its_own_token(login: LoginServer, service: Service) -> None:
    strategy = bound(service)
    first, _ = await present(strategy, login.secret())
    second, _ = await present(strategy, login.secret(client_secret="another-secret-value"))
    assert (first, second) == ("Bearer token-1", "Bearer token-2")


async def test_a_failed_request_leaves_nothing_behind(login: LoginServer, service: Service) -> None:
    login.script = [(503, {"error": "temporarily_unavailable", "error_description": "AADSTS90033: try again"})]
    login.delay = 0.1
    strategy, secret = bound(service), login.secret()
    failures = await asyncio.gather(*(present(strategy, secret) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(failure, UpstreamServerError) for failure in failures)
    assert len({id(failure) for failure in failures}) == 3, "each waiter its own copy (the router names the target)"
    first = failures[0]
    assert isinstance(first, UpstreamServerError)
    assert first.sent is False, "the request the token was for never left: safe to send elsewhere"
    assert first.message == "AADSTS90033: try again"
    assert len(login.asked) == 1
    assert await present(strategy, secret) == ("Bearer token-2", True), "the next call asks again"


async def test_a_refusal_is_the_targets_authentication_failure(login: LoginServer, service: Service) -> None:
    login.script = [(401, REFUSAL), (400, {**REFUSAL, "error": "unauthorized_client"})]
    strategy, secret = bound(service), login.secret()
    for status in (401, 400):
        with pytest.raises(UpstreamAuthFailed) as refused:
            await present(strategy, secret)
        failure = refused.value
        assert failure.message.startswith("AADSTS7000215: Invalid client secret provided.")
        assert failure.upstream_status == status and failure.sent is False
        assert failure.details is not None
        assert failure.details["upstream_code"] in ("invalid_client", "unauthorized_client")
        decision = decide(failure, resendable=False)
        assert decision.failover and decision.breaker_failure and not decision.retry
        assert CLIENT_SECRET not in failure.message


async def test_an_answer_without_a_token_is_a_protocol_error(login: LoginServer, service: Service) -> None:
    login.script = [(200, {"token_type": "Bearer", "expires_in": 3599})]
    with pytest.raises(UpstreamProtocolError, match="Entra ID answered without an access token") as broken:
        await present(bound(service), login.secret())
    assert broken.value.sent is False


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ("sk-this-is-an-api-key-pasted-here", "json_invalid"),
        (json.dumps({"tenant_id": TENANT, "client_id": CLIENT}), "client_secret: missing"),
        (json.dumps({"tenant_id": "../../evil", "client_id": CLIENT, "client_secret": "s3cr3t-value"}),
         "tenant_id: string_pattern_mismatch"),
        (json.dumps({"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s3cr3t-value", "key": "x"}),
         "key: extra_forbidden"),
        (json.dumps({"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s3cr3t-value",
                     "authority": "ftp://login.example"}), "authority: string_pattern_mismatch"),
        (json.dumps(["s3cr3t-value"]), "model_type"),
    ],
    ids=["not-json", "missing-field", "tenant-not-a-segment", "unknown-field", "authority-not-http", "not-an-object"],
)
async def test_a_malformed_secret_is_named_never_echoed(secret: str, named: str, login: LoginServer,
                                                        service: Service) -> None:
    with pytest.raises(CredentialMalformed) as malformed:
        await present(bound(service), secret)
    message = malformed.value.message
    assert named in message and "tenant_id" in message and "client_secret" in message
    for value in ("sk-this-is-an-api-key-pasted-here", "s3cr3t-value", "../../evil", "ftp://login.example", CLIENT):
        assert value not in message
    assert not login.asked


async def test_the_secret_may_name_another_cloud_and_scope(login: LoginServer, service: Service) -> None:
    scope = "https://cognitiveservices.azure.us/.default"
    await present(bound(service), login.secret(authority=login.base_url + "/", scope=scope))
    ((path, form, _),) = login.asked
    assert path == f"/{TENANT}/oauth2/v2.0/token" and form["scope"] == [scope]


async def test_the_token_endpoint_is_held_to_the_address_guard(login: LoginServer) -> None:
    transport = Transport(allow_private=False)  # production: no private or loopback addresses
    try:
        upstreams = Upstreams(transport, CredentialResolver({}, Redactor()))
        with pytest.raises(UpstreamConnectError) as refused:
            await present(EntraClientCredentials().bind(upstreams.tokens), login.secret())
        assert refused.value.sent is False
    finally:
        await transport.close()
    assert not login.asked


async def test_a_call_waits_for_its_token_only_within_its_deadline(login: LoginServer) -> None:
    login.delay = 0.5
    redactor = Redactor()
    transport = Transport(allow_private=True)
    resolver = CredentialResolver({"ENTRA_SECRET": login.secret()}, redactor)
    upstreams = Upstreams(transport, resolver)
    instance = ProviderInstance("azure", REGISTRY["azure_openai_entra"], "http://127.0.0.1:9", "env:ENTRA_SECRET",
                                Timeouts())
    try:
        started = time.perf_counter()
        call = Call("req-1", "project", None, Capability.CHAT, started, deadline=started + 0.1)
        exchange = upstreams.exchange(call, AttemptLog(), Target(instance, "gpt-4o-mini"))
        with pytest.raises(UpstreamTimeout) as late:
            await exchange.send(Outbound("/openai/deployments/gpt-4o-mini/chat/completions", b"{}"))
        assert late.value.sent is False
        assert time.perf_counter() - started < 0.4, "the caller is not held for the token endpoint's own timeout"
        await asyncio.sleep(0.6)  # the shared request went on: the next call finds its token
        strategy = upstreams.auth(instance.spec.auth)
        assert isinstance(strategy, EntraTokens)
        assert await present(strategy, login.secret()) == ("Bearer token-1", False)
        assert len(login.asked) == 1
    finally:
        await transport.close()
