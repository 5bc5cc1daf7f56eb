"""Plain frozen values the stores return: callers never hold ORM objects or sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    organization_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """A gateway key as stored: never the plaintext, and not even its hash (which stays in storage)."""

    id: str
    project_id: str | None  # None: global key
    name: str
    prefix: str  # first characters of the plaintext, to recognise a key in a list
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class ProviderInstance:
    id: str
    project_id: str
    name: str
    type: str
    # A copy per read; excluded from hashing because a dict is not hashable.
    config: dict[str, Any] = field(hash=False)
    created_at: datetime
    updated_at: datetime
