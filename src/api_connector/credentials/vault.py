"""The credential vault as a service: the ``cred_<id>`` store of the resolver, and the admin operations.

The request path must not query the database per request: a decrypted credential is kept in memory
for ``CREDENTIAL_CACHE_TTL`` seconds (never past the end of its version's validity), concurrent misses
share one load, and rotate, disable and delete drop it at once in this process (other replicas follow
within the TTL). Every access is audited through the recorder (off the request path, in batches):
one ``credential.use`` row per request and credential version, and one row per create, rotate,
verify, disable, enable, delete and failed decrypt. No audit row, error or log line holds a secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from api_connector.core.call import Actor
from api_connector.credentials.records import ACTIVE, DISABLED, Credential, LoadedSecret, Secret, Verification
from api_connector.credentials.resolver import Access, AccessContext
from api_connector.credentials.store import CredentialStore
from api_connector.credentials.verify import REJECTED, SKIPPED, Verifier
from api_connector.credentials.views import secret_leaves
from api_connector.errors import (
    ConnectorError,
    CredentialError,
    CredentialRejected,
    DecryptionFailed,
    NotFound,
    SecretStoreUnavailable,
    ValidationFailed,
)
from api_connector.observability.redaction import Redactor
from api_connector.providers import REGISTRY
from api_connector.routing.catalog import ProviderInstance
from api_connector.storage.models import new_id, utcnow
from api_connector.transport.http import Timeouts

log = logging.getLogger("api_connector.credentials")
Audit = Callable[..., Awaitable[None]]  # Recorder.audit
External = Callable[[str], Awaitable[str]]  # resolves env:, vault: and aws: references
_USES_REMEMBERED = 4096
_ERROR_TTL = 5.0  # seconds a "not found / disabled / no valid version" answer is remembered


@dataclass(slots=True)
class _Cached:
    loaded: LoadedSecret | None
    value: str
    expires: float
    error: tuple[type[ConnectorError], str] | None = None


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A secret given to create or rotate: the value itself, or a reference to an external store."""

    secret: Secret | None = None
    reference: str | None = None


class CredentialVault:
    def __init__(
        self,
        store: CredentialStore,
        audit: Audit,
        redactor: Redactor,
        *,
        external: External,
        forget_external: Callable[[str], None] | None = None,
        verifier: Verifier | None = None,
        cache_ttl: float = 30.0,
        default_overlap: int = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._audit_fn = audit
        self._redactor = redactor
        self._external = external
        self._forget_external = forget_external
        self.verifier = verifier
        self._ttl = cache_ttl
        self.default_overlap = default_overlap
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._loading: dict[str, asyncio.Future[_Cached]] = {}
        self._uses: OrderedDict[tuple[int, str, str, int], None] = OrderedDict()

    async def start(self) -> None:
        """Load the key ring and report rows that no configured key can open.

        The first master key is made when the first credential is stored, not here. A ring that no
        configured root key can open does not stop the service: what does not need the vault keeps
        working, and each credential that cannot be decrypted says why when it is used.
        """
        counts = await self.store.count_by_master_key()
        for info in await self.store.ring.status():
            if info.problem and counts.get(info.id):
                log.error("%d credential versions cannot be decrypted: %s", counts[info.id], info.problem)

    # -- the request path -------------------------------------------------------------------
    async def resolve(self, reference: str, access: Access) -> str:
        """The secret of ``cred_<id>``'s newest valid version (the resolver's ``cred`` store)."""
        entry = self._cache.get(reference)
        if entry is None or entry.expires <= self._clock():
            entry = await self._load_shared(reference, access.context)
        if entry.error is not None:
            kind, message = entry.error
            raise kind(message)
        assert entry.loaded is not None
        if access.owner_project is not None and entry.loaded.project_id != access.owner_project:
            # A project's instance naming another project's credential: as if it did not exist.
            raise CredentialError(f"credential {reference} not found")
        if access.context is not None:
            await self._audit_use(access.context, entry.loaded)
        return entry.value

    async def _load_shared(self, credential_id: str, context: AccessContext | None) -> _Cached:
        pending = self._loading.get(credential_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Cached] = asyncio.get_running_loop().create_future()
        self._loading[credential_id] = future
        try:
            entry = await self._load(credential_id, context)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no warning when nobody else was waiting
            raise
        finally:
            self._loading.pop(credential_id, None)
        future.set_result(entry)
        self._cache[credential_id] = entry
        return entry

    async def _load(self, credential_id: str, context: AccessContext | None) -> _Cached:
        now = self._clock()
        error_expires = now + min(_ERROR_TTL, self._ttl)
        try:
            row, loaded = await self.store.load(credential_id)
        except NotFound:
            return _Cached(None, "", error_expires, (CredentialError, f"credential {credential_id} not found"))
        except DecryptionFailed as exc:
            details = exc.details or {}
            await self._audit(
                context,
                "credential.decrypt",
                credential_id,
                None,
                "failure",
                version=details.get("version"),
                master_key_id=details.get("master_key_id"),
                reason=exc.message,
            )
            raise
        if row.state != ACTIVE:
            return _Cached(None, "", error_expires, (CredentialError, f"credential {credential_id} is disabled"))
        value = loaded.value if loaded.value is not None else await self._external(loaded.reference or "")
        self._teach(value, loaded.kind)
        expires = now + self._ttl
        if loaded.valid_until is not None:
            expires = min(expires, now + (loaded.valid_until - utcnow()).total_seconds())
        return _Cached(loaded, value, expires)

    async def _audit_use(self, context: AccessContext, loaded: LoadedSecret) -> None:
        # One row per request and version, not per retry: the key includes the context object itself, so a
        # caller re-sending an old request id cannot make its later requests go unaudited.
        key = (id(context), context.request_id, loaded.credential_id, loaded.version)
        if key in self._uses:
            return
        self._uses[key] = None
        if len(self._uses) > _USES_REMEMBERED:
            self._uses.popitem(last=False)
        await self._audit(context, "credential.use", loaded.credential_id, loaded.project_id, version=loaded.version)

    def _teach(self, value: str, kind: str) -> None:
        self._redactor.add(value)
        if kind == "json":
            for leaf in secret_leaves(json.loads(value)):
                self._redactor.add(leaf)

    def invalidate(self, credential_id: str) -> None:
        self._cache.pop(credential_id, None)

    def forget(self, credential_id: str) -> None:
        """Load ``credential_id`` from the store again next time, and a version that refers to an
        external store reads it afresh too (a connection refresh after a rotation there)."""
        entry = self._cache.pop(credential_id, None)
        reference = entry.loaded.reference if entry is not None and entry.loaded is not None else None
        if reference and self._forget_external is not None:
            self._forget_external(reference)

    # -- administration ------------------------------------------------------------------------
    async def check_owned(self, project_id: str, credential_id: str) -> None:
        """A project may point its own provider instances only at its own stored credentials."""
        try:
            await self.store.get(project_id, credential_id)
        except NotFound:
            raise ValidationFailed(
                f"config.credential: no credential {credential_id} in this project", param="config.credential"
            ) from None

    def instance_for(self, catalog_instance: ProviderInstance | None, provider: str) -> ProviderInstance:
        """Where a credential is verified: a named instance, or the catalog type on its own base URL."""
        if catalog_instance is not None:
            return catalog_instance
        spec = REGISTRY.get(provider)
        if spec is None:
            raise ValidationFailed(
                f"provider: {provider!r} is neither a provider instance of this project nor a provider type",
                param="provider",
            )
        return ProviderInstance(f"verify-{spec.type}", spec, (spec.base_url or "").rstrip("/"), None, Timeouts())

    async def _check(
        self, ctx: Actor, instance: ProviderInstance | None, new: NewSecret, verify: bool, target: str | None
    ) -> Verification:
        if not verify or self.verifier is None:
            return Verification(SKIPPED, "verify=false")
        if instance is None:
            raise ValidationFailed("verify: name a provider to verify against, or send verify=false", param="verify")
        secret = new.secret
        if secret is None:
            secret = Secret(await self._resolve_new(new.reference or ""))
        verdict = await self.verifier.verify(ctx, instance, secret)
        await self._audit(
            ctx,
            "credential.verify",
            target,
            ctx.project_id,
            _outcome(verdict),
            result=verdict.status,
            reason=verdict.detail,
        )
        if verdict.status == REJECTED:
            raise CredentialRejected(f"the provider rejected the credential: {verdict.detail}", provider=instance.name)
        return verdict

    async def _resolve_new(self, reference: str) -> str:
        """The secret a caller's new reference names. One that names nothing (an unset variable, a store
        this service has no client for) is the caller's mistake, a 400; a store that is down stays a 503."""
        try:
            return await self._external(reference)
        except SecretStoreUnavailable:
            raise
        except CredentialError as unresolved:
            raise ValidationFailed(f"reference: {unresolved.message}", param="reference") from None

    async def create(
        self,
        ctx: Actor,
        instance: ProviderInstance,
        name: str,
        provider: str,
        new: NewSecret,
        *,
        verify: bool = True,
        overlap_seconds: int | None = None,
    ) -> Credential:
        # The id is chosen first so that the verification's audit row already names it.
        credential_id = new_id("cred")
        try:
            verdict = await self._check(ctx, instance, new, verify, credential_id)
        except CredentialRejected:
            await self._audit(ctx, "credential.create", credential_id, ctx.project_id, "rejected", name=name)
            raise
        overlap = self.default_overlap if overlap_seconds is None else overlap_seconds
        created = await self.store.create(
            ctx.project_id,
            name,
            provider,
            new.secret,
            verdict,
            overlap,
            reference=new.reference,
            credential_id=credential_id,
        )
        if new.secret is not None:
            self._teach(new.secret.value, new.secret.kind)
        await self._audit(
            ctx,
            "credential.create",
            created.id,
            ctx.project_id,
            version=1,
            verification=verdict.status,
            verify=verify,
        )
        return created

    async def rotate(
        self,
        ctx: Actor,
        instance: ProviderInstance | None,
        credential_id: str,
        new: NewSecret,
        *,
        verify: bool = True,
        overlap_seconds: int | None = None,
    ) -> Credential:
        await self.store.get(ctx.project_id, credential_id)  # NotFound before any probe is sent
        try:
            verdict = await self._check(ctx, instance, new, verify, credential_id)
        except CredentialRejected:
            await self._audit(ctx, "credential.rotate", credential_id, ctx.project_id, "rejected")
            raise
        updated = await self.store.add_version(
            ctx.project_id, credential_id, new.secret, verdict, overlap_seconds, reference=new.reference
        )
        self.invalidate(credential_id)
        if new.secret is not None:
            self._teach(new.secret.value, new.secret.kind)
        newest = updated.versions[0]
        previous = updated.versions[1] if len(updated.versions) > 1 else None
        await self._audit(
            ctx,
            "credential.rotate",
            credential_id,
            ctx.project_id,
            version=newest.version,
            verification=verdict.status,
            verify=verify,
            previous_version=previous.version if previous else None,
            previous_valid_until=previous.not_after.isoformat() if previous and previous.not_after else None,
        )
        return updated

    async def verify_stored(self, ctx: Actor, instance: ProviderInstance, credential_id: str) -> Verification:
        """Probe the provider with the stored newest valid version, and record the verdict on it."""
        await self.store.get(ctx.project_id, credential_id)
        try:
            _, loaded = await self.store.load(credential_id)
        except DecryptionFailed as exc:
            await self._audit(ctx, "credential.decrypt", credential_id, ctx.project_id, "failure", reason=exc.message)
            raise
        value = loaded.value if loaded.value is not None else await self._external(loaded.reference or "")
        self._teach(value, loaded.kind)
        if self.verifier is None:
            return Verification(SKIPPED)
        verdict = await self.verifier.verify(ctx, instance, Secret(value, loaded.kind))
        await self.store.record_verification(credential_id, loaded.version, verdict)
        await self._audit(
            ctx,
            "credential.verify",
            credential_id,
            ctx.project_id,
            _outcome(verdict),
            version=loaded.version,
            result=verdict.status,
            reason=verdict.detail,
        )
        return verdict

    async def set_enabled(
        self, ctx: Actor, project_id: str | None, credential_id: str, enabled: bool
    ) -> Credential:
        changed = await self.store.set_state(project_id, credential_id, ACTIVE if enabled else DISABLED)
        self.invalidate(credential_id)
        action = "credential.enable" if enabled else "credential.disable"
        await self._audit(ctx, action, credential_id, changed.project_id)
        return changed

    async def delete(self, ctx: Actor, project_id: str | None, credential_id: str) -> Credential:
        gone = await self.store.delete(project_id, credential_id)
        self.invalidate(credential_id)
        await self._audit(ctx, "credential.delete", credential_id, gone.project_id, versions=len(gone.versions))
        return gone

    async def _audit(
        self,
        ctx: AccessContext | None,
        action: str,
        credential_id: str | None,
        project_id: str | None,
        outcome: str = "success",
        **details: Any,
    ) -> None:
        await self._audit_fn(
            request_id=ctx.request_id if ctx else None,
            actor_key_id=ctx.key_id if ctx else None,
            project_id=project_id or (ctx.project_id if ctx else None),
            action=action,
            target_type="credential",
            target_id=credential_id,
            outcome=outcome,
            details={"credential_id": credential_id, **{k: v for k, v in details.items() if v is not None}},
        )


def _outcome(verdict: Verification) -> str:
    return verdict.status.replace("unverified: ", "unverified_")
