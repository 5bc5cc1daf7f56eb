"""Redaction by value: every secret the service knows is scrubbed from text before it leaves.

Patterns catch what looks like a key (``Bearer ...``, ``sk-...``, ``ack_...``) even when the service
never saw the value; exact values catch secrets of any shape (a password, a service-account JSON field).

Bodies are searched with one Aho-Corasick automaton over all known secrets, so the cost of an answer
with no secret in it stops growing with their number. Measured in instructions on a 6.4 KB streamed
read: one ``bytes.find`` per secret costs ~5,500 a secret (1.1 million at 200 secrets, 5.6 million at
1,000), the regular expression of them all that streams used up to 72 million at 1,000; the automaton
costs ~11 thousand up to 60 secrets and ~120 thousand from 61 to 1,000 (see ``_STEERING``). For a
single secret one ``find`` is the cheaper (7,700 against 11,000). Text (log lines, error messages) is
searched the same way, as UTF-8: with the key shapes, a 290-character log line costs ~95 thousand
instructions at 1 secret and ~99 thousand at 1,000, where a regular expression of all secrets cost
196 thousand and 3.3 million.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

MASK = "[REDACTED]"
_MASK_BYTES = MASK.encode()
_MIN_SECRET = 6  # shorter values would scrub ordinary words
_AUTOMATON_FROM = 2  # from this many secrets one automaton pass beats one find per secret (measured)
_DFA_UP_TO = 1000
# Patterns of bytes that UTF-8 never uses: they match inside no secret, and their matches are dropped.
# They are there to steer the automaton's prefilter. Left to itself, for a few secrets the library
# searches first for their start or "rare" bytes, ranked as in English text, where '-', '_' and '.'
# are rare; keys are full of them (sk-..., gsk_..., hvs....) and so is JSON: 10 keys then cost up to
# 460 thousand instructions on a 6.4 KB read. With these it takes its vectorised search up to 60
# secrets (6-25 thousand), none beyond (~120 thousand), whatever the secrets look like.
_STEERING = tuple(bytes([byte]) * 8 for byte in range(0xF8, 0xFC))
# The look-ahead names every letter a match can start with: the engine then skips other positions
# by a set test instead of trying both branches at each (a 290-character log line: 19 µs -> 7.5 µs).
_PATTERNS = re.compile(
    r"(?i)(?=[abgprsx])(?:(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(sk|pk|rk|ack|gsk|xox[abpr])[-_][A-Za-z0-9_-]{8,})"
)


class Redactor:
    __slots__ = ("_known", "_secrets", "longest")

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._known = _Known(())
        self.longest = 0  # bytes of the longest known secret (how much a stream must hold back)

    def add(self, secret: str) -> None:
        if len(secret) >= _MIN_SECRET and secret not in self._secrets:
            self._secrets.add(secret)
            self.longest = max(self.longest, len(secret.encode("utf-8")))
            # The searchers are rebuilt by the next scan, not here: the hundreds of credentials learnt
            # at start-up cost one build, not one each (1,000 adds took 74 s when each rebuilt them).

    def _current(self) -> _Known:
        known = self._known
        # Secrets are only ever added, so a build of another size is stale; that holds too when
        # another thread added one while this build was made: the next scan sees the difference.
        # (Written out again in scrub_body and occurrences: the call was a tenth of a small scrub.)
        if known.size != len(self._secrets):
            known = self._known = _Known(self._secrets)
        return known

    def scrub(self, text: str) -> str:
        """Known secret values, then whatever looks like a key, out of text (log lines, messages)."""
        return _PATTERNS.sub(_mask_pattern, self.scrub_values(text))

    def scrub_body(self, body: bytes) -> bytes:
        """Known secret values out of a response body (no pattern guessing: answers may quote keys).

        Masked in the bytes themselves: a body that is not UTF-8 keeps every other byte. Below
        ``_AUTOMATON_FROM`` secrets, ``find`` tells whether there is anything to mask (``in`` on bytes
        first tries the needle as an integer and pays for a discarded TypeError).
        """
        known = self._known
        if known.size != len(self._secrets):
            known = self._current()
        if known.size < _AUTOMATON_FROM:
            for secret in known.byte_secrets:
                if body.find(secret) != -1:
                    break
            else:
                return body
        found = known.automaton.find_matches_as_indexes(body)
        if not found:
            return body
        spans = [(start, end) for secret, start, end in found if secret < known.size]  # not the steering
        return _masked(body, spans) if spans else body

    def occurrences(self, data: bytes) -> list[tuple[int, int]]:
        """Where known secrets stand in ``data``: (start, end) of each, leftmost-longest, in order."""
        known = self._known
        if known.size != len(self._secrets):
            known = self._current()
        found = known.automaton.find_matches_as_indexes(data)
        return [(start, end) for secret, start, end in found if secret < known.size]

    def stream(self) -> StreamScrubber:
        """A scrubber for one streamed body, whose reads may cut a secret in two."""
        return StreamScrubber(self)

    def scrub_values(self, text: str) -> str:
        """Known secret values out of text, searched as its UTF-8 bytes like a body. A secret's bytes
        begin and end where characters do, so what is left decodes as the text it was; lone surrogates
        (text decoded from broken JSON) pass through both ways unchanged."""
        if not self._secrets:
            return text
        encoded = text.encode("utf-8", "surrogatepass")
        scrubbed = self.scrub_body(encoded)
        return text if scrubbed is encoded else scrubbed.decode("utf-8", "surrogatepass")

    def __contains__(self, secret: str) -> bool:
        return secret in self._secrets


class _Known:
    """The searchers for one set of known secrets, built once after the set last changed.

    A secret containing another is masked whole: the automaton reports leftmost-longest matches.
    """

    __slots__ = ("automaton", "byte_secrets", "size")

    def __init__(self, secrets: Collection[str]) -> None:
        ordered = sorted(secrets, key=len, reverse=True)
        self.size = len(ordered)
        self.byte_secrets = tuple(secret.encode("utf-8") for secret in ordered)
        # A DFA scans about twice as fast as the library's own choice beyond ~100 secrets (a contiguous
        # NFA) but takes ~20 KiB a secret: a DFA up to _DFA_UP_TO secrets (20 MiB), its choice beyond.
        implementation = Implementation.DFA if self.size <= _DFA_UP_TO else None
        self.automaton = BytesAhoCorasick(
            self.byte_secrets + _STEERING, matchkind=MatchKind.LeftmostLongest, implementation=implementation
        )


def _masked(body: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``body`` with each (start, end) span, in order and not overlapping, replaced by the mask."""
    parts: list[bytes] = []
    last = 0
    for start, end in spans:
        parts += (body[last:start], _MASK_BYTES)
        last = end
    parts.append(body[last:])
    return b"".join(parts)


def _mask_pattern(match: re.Match[str]) -> str:
    prefix = match.group(1)
    return f"{prefix}{MASK}" if prefix else MASK


class StreamScrubber:
    """Masks known secrets in a body that arrives in pieces, whatever the piece boundaries.

    Each read is joined to what was held back, and everything is passed on but the last
    ``longest - 1`` bytes: a secret whose first part arrived in this read but whose rest has not is
    still held, so it is masked whole once it completes. The cut never falls inside a secret that is
    already complete (it moves to that secret's end). ``flush`` gives what is held when the body ends.
    Secrets learnt while the stream runs are honoured from the next read.
    """

    __slots__ = ("_held", "_redactor")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        redactor = self._redactor
        keep = redactor.longest - 1
        if keep <= 0:
            return chunk
        data = self._held + chunk if self._held else chunk
        cut = len(data) - keep
        if cut <= 0:
            self._held = data
            return b""
        spans = redactor.occurrences(data)
        for start, end in spans:
            if start < cut < end:
                cut = end  # a complete secret across the cut goes out whole (masked)
        self._held = data[cut:]
        if not spans:
            return data[:cut]
        # The spans already found: those before the cut end by it (one across it moved the cut).
        return _masked(data[:cut], [span for span in spans if span[0] < cut])

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self._redactor.scrub_body(held) if held else b""
