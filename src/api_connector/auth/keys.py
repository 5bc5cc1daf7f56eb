"""Gateway key format, hashing and scopes.

A key is ``ack_`` followed by 40 URL-safe random characters (240 bits). Only its SHA-256 hex digest is
stored, plus the first 12 characters as a display prefix, so a database dump never yields a usable key.
A plain (unsalted) hash is enough because the key itself is high-entropy random, and it lets the
authenticator find a key with one indexed equality lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from enum import StrEnum

KEY_PREFIX = "ack_"
_RANDOM_CHARS = 40
DISPLAY_PREFIX_LEN = 12
# Longer "keys" are rejected before hashing or caching: nothing we issue is this long.
MAX_KEY_LEN = 512


class Scope(StrEnum):
    """What a gateway key may do. A key with no project and ``admin`` is global (every project)."""

    INFERENCE = "inference"  # OpenAI-compatible /v1 routes
    REQUESTS = "requests"  # generic /v1/requests
    ADMIN = "admin"  # admin API of the key's project (of everything when the key is global)


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)


def generate_key() -> str:
    """A new plaintext key; shown to its creator once and never stored."""
    # token_urlsafe(30) is exactly 40 characters (30 bytes -> 40 base64 characters, no padding).
    token = secrets.token_urlsafe(_RANDOM_CHARS * 3 // 4)
    return KEY_PREFIX + token


def hash_key(plaintext: str) -> str:
    """SHA-256 hex digest: the only form of a key the database ever sees."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def display_prefix(plaintext: str) -> str:
    """The part of a key shown in listings, so its owner can tell keys apart.

    12 of our 44 characters leave 192 random bits unknown; 12 characters of a short operator-chosen
    bootstrap key would give most of it away, so shorter keys show at most 4.
    """
    if len(plaintext) >= len(KEY_PREFIX) + _RANDOM_CHARS:
        return plaintext[:DISPLAY_PREFIX_LEN]
    return plaintext[: min(4, len(plaintext) // 4)]


def normalize_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Validate a collection of scope names; unknown names raise ValueError naming them."""
    if isinstance(scopes, str):  # "admin" would otherwise become {"a", "d", "m", ...}
        raise ValueError("scopes must be a list of scope names, not a string")
    names = frozenset(str(s) for s in scopes)
    unknown = sorted(names - ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s) {unknown}; known: {sorted(ALL_SCOPES)}")
    if not names:
        raise ValueError("a key needs at least one scope")
    return names
