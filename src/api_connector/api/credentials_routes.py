"""The credential vault's admin API: create, list (masked), show, rotate, verify, disable, enable, delete.

Everything is scoped to the caller's project (a global admin picks one with ``x-project-id``): another
project's credential answers 404 exactly like one that does not exist. No route ever returns a secret,
not even the one that created it (the caller already has it); listings show the last four characters.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api_connector.api.context import actor_of, parse_model, project_of, read_json
from api_connector.api.middleware import Routes
from api_connector.api.read_scope import read_scope
from api_connector.api.render import json_response
from api_connector.api.services import PRINCIPAL, SERVICES
from api_connector.auth.authenticator import Principal
from api_connector.credentials.records import Secret, Verification
from api_connector.credentials.vault import CredentialVault, NewSecret
from api_connector.credentials.views import public_view
from api_connector.errors import ConnectorError, PermissionDenied, UnknownProvider, ValidationFailed
from api_connector.routing.catalog import ProviderInstance

_MAX_OVERLAP = 90 * 24 * 3600
# Where an external secret lives (config.CREDENTIAL_REF without cred_: a stored credential is not a reference).
_EXTERNAL_REF = r"^(env:[A-Za-z_][A-Za-z0-9_]*|vault:[^#\s]+#[^#\s]+|aws:\S+)$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCredential(_Body):
    name: str = Field(min_length=1, max_length=100)
    provider: str = Field(min_length=1, max_length=64, description="A provider instance of this project, or a type")
    secret: str | dict[str, Any] | None = Field(None, description="An API key or token, or a JSON object")
    reference: str | None = Field(
        None,
        pattern=_EXTERNAL_REF,
        description="Instead of a secret: env:NAME, vault:MOUNT/PATH#FIELD or aws:SECRET_ID (global admins)",
    )
    verify: bool = True
    overlap_seconds: int | None = Field(None, ge=0, le=_MAX_OVERLAP)


class RotateCredential(_Body):
    secret: str | dict[str, Any] | None = None
    reference: str | None = Field(None, pattern=_EXTERNAL_REF)
    verify: bool = True
    overlap_seconds: int | None = Field(None, ge=0, le=_MAX_OVERLAP)


def _vault(request: web.Request) -> CredentialVault:
    vault = request.app[SERVICES].vault
    if vault is None:
        raise ConnectorError("the credential vault is not configured")
    return vault


def _new_secret(request: web.Request, secret: str | dict[str, Any] | None, reference: str | None) -> NewSecret:
    if (secret is None) == (reference is None):
        raise ValidationFailed("give exactly one of secret and reference", param="secret")
    if reference is not None:
        principal: Principal = request[PRINCIPAL]
        # A reference names one of the operator's secrets: granting it to a project is the operator's call.
        if not principal.is_global_admin:
            raise PermissionDenied("only a global admin key can store a reference to an external secret")
        return NewSecret(reference=reference)
    assert secret is not None
    return NewSecret(secret=Secret.of(secret))


def _instance(request: web.Request, provider: str) -> ProviderInstance:
    services = request.app[SERVICES]
    try:
        found: ProviderInstance | None = services.catalog.instance(project_of(request), provider)
    except UnknownProvider:
        found = None
    return _vault(request).instance_for(found, provider)


def _verdict(verification: Verification) -> dict[str, Any]:
    return {"status": verification.status, "detail": verification.detail}


async def create_credential(request: web.Request) -> web.Response:
    body = parse_model(CreateCredential, await read_json(request))
    new = _new_secret(request, body.secret, body.reference)
    ctx = actor_of(request)
    created = await _vault(request).create(
        ctx,
        _instance(request, body.provider),
        body.name,
        body.provider,
        new,
        verify=body.verify,
        overlap_seconds=body.overlap_seconds,
    )
    return json_response(public_view(created), 201)


async def list_credentials(request: web.Request) -> web.Response:
    credentials = await _vault(request).store.list(read_scope(request).project())
    return json_response({"data": [public_view(c) for c in credentials]})


async def get_credential(request: web.Request) -> web.Response:
    credential = await _vault(request).store.get(read_scope(request).project(), request.match_info["credential_id"])
    return json_response(public_view(credential))


async def rotate_credential(request: web.Request) -> web.Response:
    vault = _vault(request)
    body = parse_model(RotateCredential, await read_json(request))
    new = _new_secret(request, body.secret, body.reference)
    existing = await vault.store.get(project_of(request), request.match_info["credential_id"])
    updated = await vault.rotate(
        actor_of(request),
        # Only a verification needs the provider: a credential whose instance is gone can still rotate.
        _instance(request, existing.provider) if body.verify else None,
        existing.id,
        new,
        verify=body.verify,
        overlap_seconds=body.overlap_seconds,
    )
    return json_response(public_view(updated))


async def verify_credential(request: web.Request) -> web.Response:
    vault = _vault(request)
    existing = await vault.store.get(project_of(request), request.match_info["credential_id"])
    verdict = await vault.verify_stored(
        actor_of(request), _instance(request, existing.provider), existing.id
    )
    return json_response({"id": existing.id, "verification": _verdict(verdict)})


async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
    ctx = actor_of(request)
    changed = await _vault(request).set_enabled(ctx, project_of(request), request.match_info["credential_id"], enabled)
    return json_response(public_view(changed))


async def disable_credential(request: web.Request) -> web.Response:
    return await _set_enabled(request, False)


async def enable_credential(request: web.Request) -> web.Response:
    return await _set_enabled(request, True)


async def delete_credential(request: web.Request) -> web.Response:
    ctx = actor_of(request)
    await _vault(request).delete(ctx, project_of(request), request.match_info["credential_id"])
    return web.Response(status=204)


def setup(r: Routes) -> None:
    r.add_post("/admin/credentials", create_credential)
    r.add_get("/admin/credentials", list_credentials)
    r.add_get("/admin/credentials/{credential_id}", get_credential)
    r.add_post("/admin/credentials/{credential_id}/rotate", rotate_credential)
    r.add_post("/admin/credentials/{credential_id}/verify", verify_credential)
    r.add_post("/admin/credentials/{credential_id}/disable", disable_credential)
    r.add_post("/admin/credentials/{credential_id}/enable", enable_credential)
    r.add_delete("/admin/credentials/{credential_id}", delete_credential)


# (method, path, summary, request body model, success status) for api/openapi.py
OPERATIONS: tuple[tuple[str, str, str, type[BaseModel] | None, int], ...] = (
    ("post", "/admin/credentials", "Store a credential (verified with the provider first)", CreateCredential, 201),
    ("get", "/admin/credentials", "Credentials of this project, masked", None, 200),
    ("get", "/admin/credentials/{credential_id}", "A credential's metadata and versions", None, 200),
    ("post", "/admin/credentials/{credential_id}/rotate", "Add a new version", RotateCredential, 200),
    ("post", "/admin/credentials/{credential_id}/verify", "Probe the provider with the stored secret", None, 200),
    ("post", "/admin/credentials/{credential_id}/disable", "Stop using a credential", None, 200),
    ("post", "/admin/credentials/{credential_id}/enable", "Use a disabled credential again", None, 200),
    ("delete", "/admin/credentials/{credential_id}", "Delete a credential and all its versions", None, 204),
)
