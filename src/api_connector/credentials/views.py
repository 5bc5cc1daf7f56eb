"""What may be shown of a credential (masked, never the secret), and which JSON fields are secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from api_connector.credentials.records import Credential
from api_connector.storage.models import utcnow

# JSON fields whose values are secrets on their own (service-account JSON, OAuth token sets).
_SECRET_FIELD_HINTS = ("private_key", "secret", "token", "password", "api_key")


def secret_leaves(value: Any) -> Sequence[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for name, item in value.items():
            if isinstance(item, str) and any(hint in str(name).lower() for hint in _SECRET_FIELD_HINTS):
                found.append(item)
            elif isinstance(item, dict | list):
                found.extend(secret_leaves(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(secret_leaves(item))
    return found


def public_view(credential: Credential, now: datetime | None = None) -> dict[str, Any]:
    """What any route or command may show: masked, never the secret."""
    now = now or utcnow()
    current = credential.current(now)
    return {
        "id": credential.id,
        "project_id": credential.project_id,
        "name": credential.name,
        "provider": credential.provider,
        "kind": credential.kind,
        "state": credential.state,
        "masked": _masked(credential.kind, current.hint if current else None, current.reference if current else None),
        "current_version": current.version if current else None,
        "verification": current.verification if current else None,
        "overlap_seconds": credential.overlap_seconds,
        "created_at": credential.created_at.isoformat(),
        "updated_at": credential.updated_at.isoformat(),
        "versions": [
            {
                "version": v.version,
                "status": "current" if v is current else ("valid" if v.valid_at(now) else "retired"),
                "masked": _masked(credential.kind, v.hint, v.reference),
                "master_key_id": v.master_key_id,
                "verification": v.verification,
                "verification_detail": v.verification_detail,
                "verified_at": v.verified_at.isoformat() if v.verified_at else None,
                "created_at": v.created_at.isoformat(),
                "valid_until": v.not_after.isoformat() if v.not_after else None,
            }
            for v in credential.versions
        ],
    }


def _masked(kind: str, hint: str | None, reference: str | None) -> str:
    if reference is not None:
        return reference  # a reference names where the secret lives; it is not the secret
    if kind == "json":
        return "{…}"
    return f"…{hint}" if hint else "…"
