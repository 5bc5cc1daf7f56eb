"""Google auth (``auth.google``) against a loopback token endpoint that verifies every JWT it is sent
with the service account's public key (``tests.google_tokens``), over the gateway's own transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest

from api_connector.auth.google import GOOGLE_AUTH, GoogleTokens, parse_service_account
from api_connector.auth.strategies import Bindable
from api_connector.errors import CredentialError, ServiceAccountInvalid, TokenExchangeFailed
from api_connector.observability.redaction import Redactor
from api_connector.routing.exchange import TokenRequests
from api_connector.transport.http import Transport
from tests.google_tokens import ServiceAccountKey, TokenEndpoint, token_endpoint

ACCOUNT = ServiceAccountKey.make("gateway")
STRANGER = ServiceAccountKey.make("stranger", seed=1)  # a key the endpoint does not know


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    endpoint: TokenEndpoint
    tokens: GoogleTokens
    clock: Clock
    secret: str


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    transport = Transport(allow_private=True)
    clock = Clock()
    async with token_endpoint(ACCOUNT) as endpoint:
        endpoint.clock = clock
        tokens = GoogleTokens(TokenRequests(transport, Redactor()), clock=clock)
        yield Setup(endpoint, tokens, clock, ACCOUNT.json(endpoint.url))
    await transport.close()


async def authorize(tokens: GoogleTokens, secret: str) -> dict[str, str]:
    """The headers ``tokens`` puts on a request, waiting for an exchange when it needs one."""
    headers: dict[str, str] = {}
    pending = tokens.apply(secret, "POST", "https://vertex.example/v1/x", headers, {}, b"{}")
    if pending is not None:
        await pending
    return headers


def test_the_declaration_binds_per_process() -> None:
    assert isinstance(GOOGLE_AUTH, Bindable)
    transport = Transport()
    one, two = (GOOGLE_AUTH.bind(TokenRequests(transport, Redactor())) for _ in range(2))
    assert isinstance(one, GoogleTokens) and one is not two  # each process keeps its own tokens


async def test_a_verified_exchange_gives_a_bearer_token_cached_across_calls(setup: Setup) -> None:
    first = await authorize(setup.tokens, setup.secret)
    assert first == {"Authorization": "Bearer ya29.test-1"}
    assert setup.endpoint.refused == [] and setup.endpoint.issued == ["ya29.test-1"]
    # Cached: the next calls present it at once, without a coroutine of their own.
    for _ in range(5):
        headers: dict[str, str] = {}
        assert setup.tokens.apply(setup.secret, "POST", "u", headers, {}, None) is None
        assert headers == first
    assert setup.endpoint.requests == 1 and setup.tokens.exchanges == 1


async def test_the_token_is_renewed_shortly_before_it_expires(setup: Setup) -> None:
    await authorize(setup.tokens, setup.secret)
    setup.clock.now += 3600 - 301  # just over five minutes left: still used
    assert await authorize(setup.tokens, setup.secret) == {"Authorization": "Bearer ya29.test-1"}
    setup.clock.now += 2  # under five minutes left: renewed before it can expire on the way
    assert await authorize(setup.tokens, setup.secret) == {"Authorization": "Bearer ya29.test-2"}
    assert setup.endpoint.requests == 2 and setup.endpoint.refused == []


async def test_a_short_lived_token_is_renewed_at_half_its_life(setup: Setup) -> None:
    setup.endpoint.lifetime = 60
    await authorize(setup.tokens, setup.secret)
    setup.clock.now += 29
    assert await authorize(setup.tokens, setup.secret) == {"Authorization": "Bearer ya29.test-1"}
    setup.clock.now += 2
    assert await authorize(setup.tokens, setup.secret) == {"Authorization": "Bearer ya29.test-2"}


async def test_concurrent_calls_share_one_exchange(setup: Setup) -> None:
    setup.endpoint.delay = 0.2
    answers = await asyncio.gather(*(authorize(setup.tokens, setup.secret) for _ in range(25)))
    assert {a["Authorization"] for a in answers} == {"Bearer ya29.test-1"}
    assert setup.endpoint.requests == 1


async def test_a_caller_that_leaves_does_not_cancel_the_exchange_others_wait_for(setup: Setup) -> None:
    setup.endpoint.delay = 0.2
    leaving = asyncio.ensure_future(authorize(setup.tokens, setup.secret))
    staying = asyncio.ensure_future(authorize(setup.tokens, setup.secret))
    await asyncio.sleep(0.05)
    leaving.cancel()
    assert (await staying) == {"Authorization": "Bearer ya29.test-1"}
    assert setup.endpoint.requests == 1


async def test_each_service_account_has_its_own_token(setup: Setup) -> None:
    other = ServiceAccountKey.make("other", seed=1)
    setup.endpoint.accounts[other.email] = other
    assert await authorize(setup.tokens, setup.secret) == {"Authorization": "Bearer ya29.test-1"}
    assert await authorize(setup.tokens, other.json(setup.endpoint.url)) == {"Authorization": "Bearer ya29.test-2"}
    assert await authorize(setup.tokens, setup.secret) == {"Authorization": "Bearer ya29.test-1"}


async def test_a_refused_assertion_is_a_clear_error_without_the_key(setup: Setup) -> None:
    secret = STRANGER.json(setup.endpoint.url)
    with pytest.raises(TokenExchangeFailed) as caught:
        await authorize(setup.tokens, secret)
    assert caught.value.message.endswith(
        "refused the service account: invalid_grant: unknown service account (HTTP 400)"
    )
    assert caught.value.code == "token_exchange_failed" and isinstance(caught.value, CredentialError)
    assert STRANGER.key_material() not in caught.value.message


async def test_a_signature_by_another_key_is_refused_by_the_endpoint(setup: Setup) -> None:
    forged = orjson.loads(ACCOUNT.json(setup.endpoint.url))
    forged["private_key"] = STRANGER.pem  # the right account, someone else's key
    with pytest.raises(TokenExchangeFailed, match=r"invalid_grant: Invalid JWT Signature\. \(HTTP 400\)"):
        await authorize(setup.tokens, orjson.dumps(forged).decode())
    assert setup.endpoint.refused == ["Invalid JWT Signature."]


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (500, b'{"error": "internal_failure"}', "internal_failure (HTTP 500)"),
        (503, b"<html>unavailable</html>", "HTTP 503"),
        (200, b'{"token_type": "Bearer"}', None),
    ],
)
async def test_token_endpoint_failures_surface_as_token_exchange_failed(
    setup: Setup, status: int, body: bytes, said: str | None
) -> None:
    setup.endpoint.failure = (status, body)
    with pytest.raises(TokenExchangeFailed) as caught:
        await authorize(setup.tokens, setup.secret)
    where = setup.endpoint.url.split("/")[2]
    expected = f"refused the service account: {said}" if said else "answered without an access token"
    assert caught.value.message == f"the token endpoint {where} {expected}"
    # Nothing was cached: once the endpoint recovers, the next call exchanges again.
    setup.endpoint.failure = None
    assert await authorize(setup.tokens, setup.secret) == {"Authorization": "Bearer ya29.test-1"}


async def test_an_unreachable_token_endpoint_is_a_clear_error() -> None:
    transport = Transport(allow_private=True)
    try:
        tokens = GoogleTokens(TokenRequests(transport, Redactor()))
        with pytest.raises(TokenExchangeFailed, match=r"token endpoint 127\.0\.0\.1:9 could not be reached"):
            await authorize(tokens, ACCOUNT.json("http://127.0.0.1:9/token"))
    finally:
        await transport.close()


async def test_a_failed_renewal_keeps_using_the_token_until_it_expires(setup: Setup) -> None:
    await authorize(setup.tokens, setup.secret)
    setup.clock.now += 3600 - 100  # time to renew, but the token is still valid
    setup.endpoint.failure = (503, b"{}")
    assert await authorize(setup.tokens, setup.secret) == {"Authorization": "Bearer ya29.test-1"}
    setup.clock.now += 101  # expired: now the failure is the caller's
    with pytest.raises(TokenExchangeFailed):
        await authorize(setup.tokens, setup.secret)


async def test_a_token_endpoint_the_address_policy_forbids_is_not_reached() -> None:
    transport = Transport(allow_private=False)
    try:
        tokens = GoogleTokens(TokenRequests(transport, Redactor()))
        async with token_endpoint(ACCOUNT) as endpoint:
            with pytest.raises(TokenExchangeFailed, match="could not be reached: refusing to connect"):
                await authorize(tokens, ACCOUNT.json(endpoint.url.replace("127.0.0.1", "localhost")))
            assert endpoint.requests == 0
    finally:
        await transport.close()


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ('{"type": "authorized_user", "client_id": "x", "client_secret": "hush-123", "refresh_token": "r"}',
         "check client_email, private_key, type"),
        ('{"type": "service_account", "client_email": "a@b", "private_key": "hush-123"}',
         "private_key is not a PEM private key"),
        ('{"type": "service_account", "client_email": "a@b"', "is not valid JSON"),
        ('["service_account"]', "is JSON but not an object"),
    ],
)
def test_json_that_is_not_a_service_account_key_is_refused_without_quoting_it(secret: str, why: str) -> None:
    with pytest.raises(ServiceAccountInvalid) as caught:
        parse_service_account(secret)
    assert why in caught.value.message and "hush-123" not in caught.value.message
    assert caught.value.code == "service_account_invalid" and isinstance(caught.value, CredentialError)


def test_a_token_uri_in_clear_over_the_network_is_refused() -> None:
    with pytest.raises(ServiceAccountInvalid, match="token_uri must be an https URL"):
        parse_service_account(ACCOUNT.json("http://oauth2.example.com/token"))
    assert parse_service_account(ACCOUNT.json("https://oauth2.googleapis.com/token")).email == ACCOUNT.email


async def test_a_secret_that_is_not_json_is_an_api_key_for_express_mode(setup: Setup) -> None:
    assert await authorize(setup.tokens, "AIza-express-key") == {"x-goog-api-key": "AIza-express-key"}
    assert setup.endpoint.requests == 0


async def test_a_bad_key_fails_before_anything_is_sent(setup: Setup) -> None:
    with pytest.raises(ServiceAccountInvalid):
        setup.tokens.apply('{"type": "service_account"}', "POST", "u", {}, {}, None)
    assert setup.endpoint.requests == 0
