"""Turns a credential reference into the secret, and teaches the redactor every secret it hands out.

``env:NAME`` and ``file:/PATH`` (a mounted secret file, such as a Google service-account key; read again
after a minute, so a rotated file is picked up) are read here; ``vault:``, ``aws:`` and ``cred_<id>`` go
to the store registered for their scheme (``credentials.external`` and ``credentials.vault``). Stores
are told who asks (the request's context, for the audit) and which project owns the provider instance
asking (None for the operator's configuration file), so that a project's instance can never use another
project's stored credential.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from api_connector.errors import CredentialError
from api_connector.observability.redaction import Redactor


class AccessContext(Protocol):
    """Who is asking: the request, its project and its gateway key (``core.call.Call`` or ``Actor``)."""

    @property
    def request_id(self) -> str: ...

    @property
    def project_id(self) -> str: ...

    @property
    def key_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Access:
    context: AccessContext | None = None
    # The project owning the provider instance that needs the secret; None: the operator's configuration.
    owner_project: str | None = None


# A store answers a reference of its scheme (the part after "vault:", "aws:", or the whole "cred_" id).
SecretStore = Callable[[str, Access], Awaitable[str]]
# Drops what a store remembers of one reference of its scheme, so the next resolve reads it afresh.
Forget = Callable[[str], None]
_FILE_TTL = 60.0  # seconds a secret file's content is used before it is read again


class CredentialResolver:
    def __init__(self, environ: Mapping[str, str], redactor: Redactor) -> None:
        self._environ = environ
        self._redactor = redactor
        self._stores: dict[str, SecretStore] = {}
        self._forgets: dict[str, Forget] = {}
        self._files: dict[str, tuple[str, float]] = {}  # file: reference -> (content, when read)

    @property
    def redactor(self) -> Redactor:
        """Where secrets are taught (auth strategies add the fields of structured secrets they use)."""
        return self._redactor

    def register_store(self, scheme: str, store: SecretStore, forget: Forget | None = None) -> None:
        """Add a backend for ``vault``, ``aws`` or ``cred`` references (``forget``: drop its cached copy
        of one reference)."""
        self._stores[scheme] = store
        if forget is not None:
            self._forgets[scheme] = forget

    def forget(self, reference: str) -> None:
        """Read ``reference`` afresh next time (a connection refresh): a rotated secret is picked up now,
        not when its cache entry would have expired. ``env:`` references are never cached."""
        scheme, secret_ref = _split(reference)
        if scheme == "file":
            self._files.pop(reference, None)
        elif scheme in self._forgets:
            self._forgets[scheme](secret_ref)

    def known(self, reference: str) -> str | None:
        """The secret at once when no store must be asked (``env:``); None: ``resolve`` it.

        Environment references are read on every attempt: answering them without a coroutine keeps
        the common configuration off the await path.
        """
        if not reference.startswith("env:"):
            read = self._files.get(reference) if reference.startswith("file:") else None
            return read[0] if read is not None and time.monotonic() - read[1] < _FILE_TTL else None
        value = self._environ.get(reference[4:])
        if value:
            self._redactor.add(value)
        return value or None

    async def resolve(
        self, reference: str, context: AccessContext | None = None, owner_project: str | None = None
    ) -> str:
        scheme, secret_ref = _split(reference)
        if scheme == "env":
            value = self._environ.get(secret_ref)
            if not value:
                raise CredentialError(f"credential {reference} is not set in the environment")
        elif scheme == "file":
            value = await asyncio.to_thread(_read_file, reference, secret_ref)
            self._files[reference] = (value, time.monotonic())
        else:
            store = self._stores.get(scheme)
            if store is None:
                raise CredentialError(f"credential {reference}: no {scheme} store is configured")
            value = await store(secret_ref, Access(context, owner_project))
        self._redactor.add(value)
        return value


def _read_file(reference: str, path: str) -> str:
    try:
        value = Path(path).read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialError(f"credential {reference} cannot be read: {type(exc).__name__}") from None
    if not value:
        raise CredentialError(f"credential {reference} is an empty file")
    return value


def _split(reference: str) -> tuple[str, str]:
    if reference.startswith("cred_"):
        return "cred", reference
    scheme, _, rest = reference.partition(":")
    return scheme, rest
