"""Builds the vault for one process and plugs its stores into the credential resolver."""

from __future__ import annotations

import base64

from api_connector.credentials.external import ExternalConfig, ExternalSecrets
from api_connector.credentials.keyring import KeyRing, RootKeys
from api_connector.credentials.resolver import CredentialResolver
from api_connector.credentials.store import CredentialStore
from api_connector.credentials.vault import Audit, CredentialVault
from api_connector.credentials.verify import Verifier
from api_connector.observability.redaction import Redactor
from api_connector.routing.exchange import Upstreams
from api_connector.settings import Settings
from api_connector.storage.db import Database


def external_config(settings: Settings) -> ExternalConfig:
    return ExternalConfig(
        vault_addr=settings.vault_addr,
        vault_token=settings.vault_token.get_secret_value() if settings.vault_token else None,
        vault_namespace=settings.vault_namespace,
        vault_kv_version=settings.vault_kv_version,
        aws_region=settings.aws_region,
        aws_endpoint_url=settings.aws_endpoint_url,
        ttl=settings.external_secret_ttl,
        timeout=settings.external_secret_timeout,
    )


def build_vault(
    settings: Settings,
    database: Database,
    audit: Audit,
    redactor: Redactor,
    resolver: CredentialResolver,
    upstreams: Upstreams | None = None,
) -> CredentialVault:
    """The vault, with ``vault:``, ``aws:`` and ``cred_`` references answered through ``resolver``.

    Raises ConfigError when no root key can be had (ENV=production without INTEGRATION_CRYPTO_KEY).
    """
    roots = RootKeys.from_settings(settings)
    # Nothing should ever print these; if something does, the log and the answer show a mask instead.
    for root in roots.by_id.values():
        redactor.add(base64.b64encode(root).decode("ascii"))
    if settings.vault_token:
        redactor.add(settings.vault_token.get_secret_value())
    external = ExternalSecrets(external_config(settings))
    resolver.register_store("vault", external.vault, lambda ref: external.forget(f"vault:{ref}"))
    resolver.register_store("aws", external.aws, lambda ref: external.forget(f"aws:{ref}"))
    verifier = Verifier(upstreams, redactor) if upstreams is not None else None
    vault = CredentialVault(
        CredentialStore(database, KeyRing(database, roots, ttl=settings.key_ring_ttl)),
        audit,
        redactor,
        external=resolver.resolve,
        forget_external=resolver.forget,
        verifier=verifier,
        cache_ttl=settings.credential_cache_ttl,
        default_overlap=settings.credential_overlap_seconds,
    )
    resolver.register_store("cred", vault.resolve, vault.forget)
    return vault
