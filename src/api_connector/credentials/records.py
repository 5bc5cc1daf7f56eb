"""The vault's values: secrets on their way in, credentials and versions as stored, verdicts.

Plain frozen dataclasses: callers never hold ORM rows. A ``Secret`` never shows its value in ``repr``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api_connector.config import CREDENTIAL_REF
from api_connector.errors import ValidationFailed
from api_connector.storage.credential_models import REFERENCE_LEN

MAX_SECRET_BYTES = 64 * 1024
_HINT_MIN_LEN = 12  # shorter secrets show no hint: four characters of eight would give half away
ACTIVE, DISABLED = "active", "disabled"


@dataclass(frozen=True, slots=True)
class Secret:
    """A plaintext secret on its way in: text (an API key, a token) or a JSON object (service account)."""

    value: str
    kind: str = "text"

    @classmethod
    def of(cls, value: str | dict[str, Any]) -> Secret:
        if isinstance(value, dict):
            if not value:
                raise ValidationFailed("secret: a JSON secret must not be empty", param="secret")
            return cls(json.dumps(value, sort_keys=True, separators=(",", ":")), "json")
        if not isinstance(value, str) or not value.strip():
            raise ValidationFailed("secret: must be a non-empty string or a JSON object", param="secret")
        return cls(value, "text")

    def __post_init__(self) -> None:
        if len(self.value.encode("utf-8")) > MAX_SECRET_BYTES:
            raise ValidationFailed(f"secret: longer than {MAX_SECRET_BYTES} bytes", param="secret")

    def __repr__(self) -> str:  # a secret must not reach a log through repr()
        return f"Secret(kind={self.kind!r}, value=<{len(self.value)} characters>)"

    @property
    def hint(self) -> str | None:
        return self.value[-4:] if self.kind == "text" and len(self.value) >= _HINT_MIN_LEN else None


@dataclass(frozen=True, slots=True)
class Verification:
    status: str  # valid | rejected | unverified: unreachable | unverified: skipped | unverified: no probe
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialVersion:
    version: int
    master_key_id: str | None
    reference: str | None  # an external store's reference, when the secret lives there
    hint: str | None
    verification: str
    verification_detail: str | None
    verified_at: datetime | None
    created_at: datetime
    not_after: datetime | None

    def valid_at(self, now: datetime) -> bool:
        return self.not_after is None or now < self.not_after


@dataclass(frozen=True, slots=True)
class Credential:
    id: str
    project_id: str
    name: str
    provider: str
    kind: str
    state: str
    overlap_seconds: int
    created_at: datetime
    updated_at: datetime
    versions: tuple[CredentialVersion, ...] = field(default=())  # newest first

    def current(self, now: datetime) -> CredentialVersion | None:
        """The newest version still valid at ``now``."""
        return next((v for v in self.versions if v.valid_at(now)), None)


@dataclass(frozen=True, slots=True)
class LoadedSecret:
    """What the request path needs: the secret (or where it lives) of the newest valid version."""

    credential_id: str
    project_id: str
    version: int
    kind: str
    value: str | None  # None when ``reference`` names an external store
    reference: str | None
    valid_until: datetime | None

    def __repr__(self) -> str:
        return f"LoadedSecret({self.credential_id} v{self.version})"


def check_reference(reference: str) -> str:
    # The configuration file's grammar, less cred_: a stored credential must not point at another one.
    valid = CREDENTIAL_REF.match(reference) is not None and not reference.startswith("cred_")
    if not valid or len(reference) > REFERENCE_LEN:
        raise ValidationFailed(
            "reference: must be env:NAME, file:/PATH, vault:MOUNT/PATH#FIELD or aws:SECRET_ID", param="reference"
        )
    return reference
