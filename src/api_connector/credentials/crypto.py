"""AES-256-GCM envelope encryption: what keeps a credential safe at rest.

Three layers, each a 256-bit AES-GCM key:

    root key      INTEGRATION_CRYPTO_KEY (or the development key file); never stored in the database
      wraps  ->   master keys: the key ring (``keyring``), one primary, each with a ``mk_`` id
      wraps  ->   data keys: a fresh one for every credential version
      encrypts -> the secret

Every ciphertext carries associated data naming exactly where it belongs (project, credential id,
field, version and the id of the key that wrapped it), so a flipped byte, or a ciphertext copied onto
another row, fails authentication and raises ``DecryptionFailed`` instead of decrypting to garbage.
Blobs are ``format byte || 96-bit random nonce || ciphertext+tag``; the format byte leaves room for
another algorithm later without guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api_connector.errors import DecryptionFailed

KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT_AES_GCM = b"\x01"
_MIN_BLOB = 1 + _NONCE_BYTES + 16  # format byte, nonce, tag


def new_key() -> bytes:
    """A fresh random 256-bit key (data key or master key)."""
    return AESGCM.generate_key(bit_length=256)


def associated_data(purpose: str, *parts: str | int) -> bytes:
    """Length-prefixed parts, so ("ab", "c") and ("a", "bc") can never produce the same bytes."""
    out = bytearray()
    for part in (purpose, *parts):
        encoded = str(part).encode("utf-8")
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _FORMAT_AES_GCM + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    """Decrypt and authenticate; ``what`` names the row for the error (never any key material)."""
    if len(blob) < _MIN_BLOB or blob[:1] != _FORMAT_AES_GCM:
        raise DecryptionFailed(f"{what}: the stored ciphertext is truncated or in an unknown format")
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :], aad)
    except InvalidTag:
        raise DecryptionFailed(
            f"{what}: the stored ciphertext was altered or does not belong to this row (authentication failed)"
        ) from None


def root_key_id(root_key: bytes) -> str:
    """A stable id for a root key that reveals nothing about it: every replica computes the same one."""
    digest = hmac.new(root_key, b"api-connector root key id", hashlib.sha256).hexdigest()
    return f"rk_{digest[:16]}"


@dataclass(frozen=True, slots=True)
class RowAddress:
    """Where a secret belongs; all of it is bound into the ciphertext."""

    project_id: str
    credential_id: str
    version: int
    field: str = "secret"

    def describe(self) -> str:
        return f"credential {self.credential_id} version {self.version}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What is stored for one secret: the wrapped data key, its master key id, and the ciphertext."""

    master_key_id: str
    wrapped_key: bytes
    ciphertext: bytes


def _data_key_aad(address: RowAddress, master_key_id: str) -> bytes:
    return associated_data(
        "apc:data-key:v1", address.project_id, address.credential_id, address.field, address.version, master_key_id
    )


def _secret_aad(address: RowAddress) -> bytes:
    return associated_data("apc:secret:v1", address.project_id, address.credential_id, address.field, address.version)


def encrypt(master_key_id: str, master_key: bytes, address: RowAddress, plaintext: bytes) -> Envelope:
    data_key = new_key()
    return Envelope(
        master_key_id=master_key_id,
        wrapped_key=seal(master_key, data_key, _data_key_aad(address, master_key_id)),
        ciphertext=seal(data_key, plaintext, _secret_aad(address)),
    )


def decrypt(master_key: bytes, address: RowAddress, envelope: Envelope) -> bytes:
    what = address.describe()
    data_key = unseal(master_key, envelope.wrapped_key, _data_key_aad(address, envelope.master_key_id), what)
    return unseal(data_key, envelope.ciphertext, _secret_aad(address), what)


def rewrap(
    old_master: bytes, new_master_id: str, new_master: bytes, address: RowAddress, envelope: Envelope
) -> Envelope:
    """The same data key and ciphertext under another master key (the secret is never decrypted)."""
    what = address.describe()
    data_key = unseal(old_master, envelope.wrapped_key, _data_key_aad(address, envelope.master_key_id), what)
    return Envelope(
        master_key_id=new_master_id,
        wrapped_key=seal(new_master, data_key, _data_key_aad(address, new_master_id)),
        ciphertext=envelope.ciphertext,
    )


def wrap_master_key(root_key: bytes, root_id: str, master_key_id: str, master_key: bytes) -> bytes:
    return seal(root_key, master_key, associated_data("apc:master-key:v1", master_key_id, root_id))


def unwrap_master_key(root_key: bytes, root_id: str, master_key_id: str, wrapped: bytes) -> bytes:
    return unseal(
        root_key, wrapped, associated_data("apc:master-key:v1", master_key_id, root_id), f"master key {master_key_id}"
    )
