"""Input checks shared by the stores, so a bad value is a ValidationFailed, not a driver error."""

from __future__ import annotations

from api_connector.errors import ValidationFailed
from api_connector.storage.models import NAME_LEN


def check_name(kind: str, value: str, max_len: int = NAME_LEN) -> str:
    """Strip and validate a human-chosen name (organization, project, key, provider instance)."""
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise ValidationFailed(f"{kind} name must be a non-empty string", param="name")
    if len(name) > max_len:
        raise ValidationFailed(f"{kind} name is longer than {max_len} characters", param="name")
    if any(ord(ch) < 32 for ch in name):
        raise ValidationFailed(f"{kind} name contains control characters", param="name")
    return name
