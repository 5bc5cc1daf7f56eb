"""Key format, hashing, display prefix and scope validation."""

from __future__ import annotations

import hashlib
import string

import pytest

from api_connector.auth.keys import Scope, display_prefix, generate_key, hash_key, normalize_scopes


def test_generated_keys_have_the_documented_format() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    alphabet = set(string.ascii_letters + string.digits + "-_")
    for key in keys:
        assert key.startswith("ack_") and len(key) == 44
        assert set(key[4:]) <= alphabet


def test_hash_is_sha256_hex() -> None:
    assert hash_key("ack_x") == hashlib.sha256(b"ack_x").hexdigest()
    assert len(hash_key(generate_key())) == 64


def test_display_prefix_never_gives_a_short_key_away() -> None:
    key = generate_key()
    assert display_prefix(key) == key[:12]
    assert display_prefix("0123456789abcdef") == "0123"
    assert display_prefix("tiny") == "t"


def test_scopes() -> None:
    assert {s.value for s in Scope} == {"inference", "requests", "admin"}
    assert normalize_scopes([Scope.ADMIN, "inference"]) == {"admin", "inference"}
    for bad in (["root"], [], "admin"):
        with pytest.raises(ValueError):
            normalize_scopes(bad)
