"""Turns a credential reference into the secret, and teaches the redactor every secret it hands out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from api_connector.errors import CredentialError
from api_connector.observability.redaction import Redactor

# A store answers a reference of its scheme (the part after "vault:", "aws:", or the "cred_" id).
SecretStore = Callable[[str], Awaitable[str]]


class CredentialResolver:
    def __init__(self, environ: Mapping[str, str], redactor: Redactor) -> None:
        self._environ = environ
        self._redactor = redactor
        self._stores: dict[str, SecretStore] = {}

    def register_store(self, scheme: str, store: SecretStore) -> None:
        """Add a backend for ``vault``, ``aws`` or ``cred`` references."""
        self._stores[scheme] = store

    async def resolve(self, reference: str) -> str:
        scheme, secret_ref = _split(reference)
        if scheme == "env":
            value = self._environ.get(secret_ref)
            if not value:
                raise CredentialError(f"credential {reference} is not set in the environment")
        else:
            store = self._stores.get(scheme)
            if store is None:
                raise CredentialError(f"credential {reference}: no {scheme} store is configured")
            value = await store(secret_ref)
        self._redactor.add(value)
        return value


def _split(reference: str) -> tuple[str, str]:
    if reference.startswith("cred_"):
        return "cred", reference
    scheme, _, rest = reference.partition(":")
    return scheme, rest
