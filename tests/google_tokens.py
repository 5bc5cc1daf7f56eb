"""A loopback OAuth 2.0 token endpoint for Google service accounts, and service-account keys for it.

The endpoint checks what Google's does before it answers a JWT bearer grant: the grant type, an RS256
signature by the account's key (verified with the account's public key), the key id, the issuer, the
audience (its own URL), the scope and the assertion's times. It then issues a fresh access token with
the lifetime the test sets. Tests can also make it slow, refuse, or break.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.loopback import serve

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@functools.lru_cache(maxsize=4)
def _rsa_key(seed: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class ServiceAccountKey:
    email: str
    key_id: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def make(cls, name: str = "gateway", seed: int = 0) -> ServiceAccountKey:
        return cls(f"{name}@test-project.iam.gserviceaccount.com", f"key-{name}-{seed}", _rsa_key(seed))

    @property
    def pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def json(self, token_uri: str) -> str:
        """The key file as Google's console downloads it."""
        return orjson.dumps({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": self.key_id,
            "private_key": self.pem,
            "client_email": self.email,
            "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }).decode()

    def key_material(self) -> str:
        """A line of the private key's body: it must never appear anywhere the gateway writes."""
        return self.pem.splitlines()[5]


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenEndpoint:
    def __init__(self, *accounts: ServiceAccountKey) -> None:
        self.accounts = {account.email: account for account in accounts}
        self.url = ""
        self.lifetime = 3600
        self.delay = 0.0
        self.failure: tuple[int, bytes] | None = None  # answered instead of a token, when set
        self.issued: list[str] = []
        self.refused: list[str] = []  # why each refused assertion was refused
        self.requests = 0
        self.clock = time.time  # what "now" is when the assertion's times are checked

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        form = await request.post()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failure is not None:
            status, body = self.failure
            return web.Response(status=status, body=body, content_type="application/json")
        why = self._refusal(str(form.get("grant_type", "")), str(form.get("assertion", "")))
        if why is not None:
            self.refused.append(why)
            body = {"error": "invalid_grant", "error_description": why}
            return web.json_response(body, status=400)
        token = f"ya29.test-{len(self.issued) + 1}"
        self.issued.append(token)
        return web.json_response({"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"})

    def _refusal(self, grant_type: str, assertion: str) -> str | None:
        if grant_type != JWT_BEARER:
            return f"unsupported grant type {grant_type!r}"
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header: dict[str, Any] = orjson.loads(_unb64(header_b64))
            claims: dict[str, Any] = orjson.loads(_unb64(claims_b64))
        except ValueError:
            return "not a JWT"
        account = self.accounts.get(str(claims.get("iss")))
        if account is None:
            return "unknown service account"
        if header.get("alg") != "RS256" or header.get("kid") != account.key_id:
            return "wrong algorithm or key id"
        try:
            account.private_key.public_key().verify(
                _unb64(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return "Invalid JWT Signature."
        now = self.clock()
        if claims.get("aud") != self.url or claims.get("scope") != CLOUD_PLATFORM:
            return "wrong audience or scope"
        if not claims["iat"] - 60 <= now <= claims["exp"] or claims["exp"] - claims["iat"] > 3600:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        return None


@asynccontextmanager
async def token_endpoint(*accounts: ServiceAccountKey) -> AsyncIterator[TokenEndpoint]:
    """A token endpoint on a free loopback port for the duration of the block (path ``/token``)."""
    endpoint = TokenEndpoint(*accounts)
    app = web.Application()
    app.router.add_post("/token", endpoint.handle)
    async with serve(app) as base_url:
        endpoint.url = f"{base_url}/token"
        yield endpoint
