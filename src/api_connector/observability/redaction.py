"""Redaction by value: every secret the service knows is scrubbed from text before it leaves.

Patterns catch what looks like a key (``Bearer ...``, ``sk-...``, ``ack_...``) even when the service
never saw the value; exact values catch secrets of any shape (a password, a service-account JSON field).
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"
_MIN_SECRET = 6  # shorter values would scrub ordinary words
_PATTERNS = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(sk|pk|rk|ack|gsk|xox[abpr])[-_][A-Za-z0-9_-]{8,}"
)


class Redactor:
    __slots__ = ("_byte_secrets", "_pattern", "_secrets")

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._byte_secrets: tuple[bytes, ...] = ()
        self._pattern: re.Pattern[str] | None = None

    def add(self, secret: str) -> None:
        if len(secret) >= _MIN_SECRET and secret not in self._secrets:
            self._secrets.add(secret)
            # Longest first so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            self._byte_secrets = tuple(s.encode("utf-8") for s in ordered)

    def scrub(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _PATTERNS.sub(_mask_pattern, text)

    def scrub_body(self, body: bytes) -> bytes:
        """Known secret values out of a response body (no pattern guessing: answers may quote keys).

        The common case, no secret in the body, costs one substring search per known secret: ``find``,
        as ``in`` on bytes first tries the needle as an integer and pays for a discarded TypeError.
        """
        for secret in self._byte_secrets:
            if body.find(secret) != -1:
                return self.scrub_values(body.decode("utf-8", "replace")).encode("utf-8")
        return body

    def scrub_values(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def __contains__(self, secret: str) -> bool:
        return secret in self._secrets


def _mask_pattern(match: re.Match[str]) -> str:
    prefix = match.group(1)
    return f"{prefix}{MASK}" if prefix else MASK
