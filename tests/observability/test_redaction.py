"""Known secrets are masked in answers whatever their number: the few-secrets path (one ``find`` each)
and the automaton paths (many secrets) must mask exactly the same bytes.

Each test that matters runs on every path; a secret the automaton missed, a longer secret masked only
in part, a secret learnt after the automaton was built, or a non-UTF-8 byte lost fails here.
"""

from __future__ import annotations

import random
import re
import string

import pytest
from ahocorasick_rs import BytesAhoCorasick

from api_connector.observability import redaction
from api_connector.observability.redaction import MASK, Redactor

M = MASK.encode()
FROM = redaction._AUTOMATON_FROM
BODY = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"The capital is London."},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}'
)


def keys(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct random keys shaped like real ones, 40 to 60 characters."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "_-"
    found: set[str] = set()
    while len(found) < count:
        found.add("sk-proj-" + "".join(rng.choices(alphabet, k=rng.randint(32, 52))))
    return sorted(found)


def redactor_with(secrets: list[str]) -> Redactor:
    redactor = Redactor()
    for secret in secrets:
        redactor.add(secret)
    return redactor


class Spy:
    """Stands for the automaton and counts the passes asked of it."""

    def __init__(self, automaton: BytesAhoCorasick) -> None:
        self.automaton = automaton
        self.passes = 0

    def find_matches_as_indexes(self, haystack: bytes) -> list[tuple[int, int, int]]:
        self.passes += 1
        return self.automaton.find_matches_as_indexes(haystack)


def uses_automaton(redactor: Redactor) -> bool:
    """Whether a body with no secret in it is searched by the automaton (not by one find per secret)."""
    known = redactor._current()
    spy = Spy(known.automaton)
    known.automaton = spy  # type: ignore[assignment]
    try:
        assert redactor.scrub_body(BODY) is BODY
    finally:
        known.automaton = spy.automaton
    return spy.passes > 0


def reference(secrets: list[str], body: bytes) -> bytes:
    """What masking means: leftmost match, the longest at that place, matches never overlapping."""
    ordered = sorted((secret.encode() for secret in secrets), key=len, reverse=True)
    return re.sub(b"|".join(map(re.escape, ordered)), M, body)


# Padding secrets put the redactor on one path or another; the secrets under test come on top. With
# none, a single secret is looked for with ``find``, more with the automaton and its vectorised search;
# past 60 the automaton (a DFA) has no prefilter; "library": 150 secrets with the library's own choice
# of automaton (not asked for a DFA).
PATHS = {"few": 0, "vectorised": 20, "dfa": 100, "library": 150}


def test_paths_are_the_ones_named() -> None:
    assert not uses_automaton(redactor_with(keys(FROM - 1)))
    assert uses_automaton(redactor_with(keys(FROM)))


@pytest.fixture(params=sorted(PATHS))
def padding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    if request.param == "library":
        monkeypatch.setattr(redaction, "_DFA_UP_TO", 0)
    return keys(PATHS[request.param], seed=99)


def test_each_of_500_secrets_masked_at_start_middle_and_end() -> None:
    secrets = keys(500)
    redactor = redactor_with(secrets)
    assert uses_automaton(redactor)
    middle = len(BODY) // 2
    for secret in secrets:
        raw = secret.encode()
        assert redactor.scrub_body(raw + BODY) == M + BODY
        assert redactor.scrub_body(BODY[:middle] + raw + BODY[middle:]) == BODY[:middle] + M + BODY[middle:]
        assert redactor.scrub_body(BODY + raw) == BODY + M
        assert redactor.occurrences(b"ab" + raw) == [(2, 2 + len(raw))]
    assert redactor.scrub_body(BODY) is BODY  # nothing found: the body itself, not a copy


def test_many_secrets_in_one_body_all_masked() -> None:
    secrets = keys(300, seed=1)
    redactor = redactor_with(secrets)
    body = b"|".join(secret.encode() for secret in secrets[::7])
    assert redactor.scrub_body(body) == b"|".join([M] * len(secrets[::7]))


def test_secret_containing_another_is_masked_whole(padding: list[str]) -> None:
    short = "sk-inner-0123456789abcdef"
    long = f"prefix-{short}-suffix"
    redactor = redactor_with([*padding, short, long])
    assert redactor.scrub_body(b"a " + long.encode() + b" b") == b"a " + M + b" b"
    assert redactor.scrub_body(b"a " + short.encode() + b" b") == b"a " + M + b" b"
    assert redactor.scrub_body(f"{short}{long}".encode()) == M + M
    # One secret ending where another begins: the leftmost wins, the rest of the other stays.
    left, right = "overlap-left-1234", "left-1234-right-5678"
    redactor.add(left)
    redactor.add(right)
    body = b"x overlap-left-1234-right-5678 y"
    assert redactor.scrub_body(body) == b"x " + M + b"-right-5678 y" == reference([*padding, left, right], body)


def test_secret_added_after_a_scan_is_found_by_the_next(padding: list[str]) -> None:
    first = keys(3, seed=5)
    redactor = redactor_with([*padding, *first])
    assert redactor.scrub_body(BODY) is BODY  # the searchers are built now
    later = "learnt-at-run-time-" + "9" * 30
    body = b"key=" + later.encode() + b";"
    assert redactor.scrub_body(body) == body  # not known yet
    redactor.add(later)
    assert redactor.scrub_body(body) == b"key=" + M + b";"
    assert redactor.scrub_body(b"key=" + first[0].encode()) == b"key=" + M  # the others still found


def test_bytes_that_are_not_utf8_are_kept(padding: list[str]) -> None:
    accented = "pässwörd-1234"  # not ASCII: looked for as its UTF-8 bytes
    secret = keys(1, seed=7)[0]
    redactor = redactor_with([*padding, secret, accented])
    body = b"\xff\xfe" + secret.encode() + b"\x80 mid \xc3" + accented.encode() + b"\xe2\x82"
    assert redactor.scrub_body(body) == b"\xff\xfe" + M + b"\x80 mid \xc3" + M + b"\xe2\x82"


def test_bytes_utf8_never_uses_are_kept_and_never_masked(padding: list[str]) -> None:
    secret = keys(1, seed=19)[0]
    redactor = redactor_with([*padding, secret])
    junk = bytes(range(0xF8, 0x100)) * 8 + b"".join(bytes([byte]) * 9 for byte in range(0xF8, 0x100))
    assert redactor.scrub_body(junk) is junk
    assert redactor.occurrences(junk) == []
    body = junk + secret.encode() + junk
    assert redactor.scrub_body(body) == junk + M + junk
    assert redactor.occurrences(body) == [(len(junk), len(junk) + len(secret))]


def test_same_answers_as_the_definition_on_random_bodies(padding: list[str]) -> None:
    secrets = keys(40, seed=11)
    secrets += [secrets[0][:20], secrets[1] + "-longer", secrets[2][5:30]]  # prefixes, extensions, inner parts
    redactor = redactor_with([*padding, *secrets])
    rng = random.Random(3)
    pieces = [secret.encode() for secret in secrets] + [b"x", b"\xff", b"\xf8" * 8, b'"', b"sk-proj-", b"London"]
    for _ in range(300):
        body = b"".join(rng.choices(pieces, k=rng.randint(0, 12)))
        assert redactor.scrub_body(body) == reference([*padding, *secrets], body)


@pytest.mark.parametrize("count", [FROM - 1, FROM, FROM + 1])
def test_threshold_neighbours_behave_alike(count: int) -> None:
    secrets = keys(count, seed=13)
    redactor = redactor_with(secrets)
    assert uses_automaton(redactor) == (count >= FROM)
    for secret in secrets:
        raw = secret.encode()
        assert redactor.scrub_body(b"\xff" + raw + BODY + raw) == b"\xff" + M + BODY + M
    assert redactor.scrub_body(BODY) is BODY
    added = "one-more-secret-after-the-threshold"
    redactor.add(added)
    assert redactor.scrub_body(added.encode()) == M


def test_stream_split_at_every_position(padding: list[str]) -> None:
    secret = keys(1, seed=17)[0]
    redactor = redactor_with([*padding, secret])
    raw = secret.encode()
    before, after = b"data: " + BODY[:80], BODY[80:] + b"\n\n"
    for at in range(len(raw) + 1):
        scrubber = redactor.stream()
        out = [scrubber.feed(before + raw[:at]), scrubber.feed(raw[at:] + after), scrubber.flush()]
        assert b"".join(out) == before + M + after, at


def test_stream_split_in_three_and_learnt_while_streaming(padding: list[str]) -> None:
    redactor = redactor_with(padding)
    scrubber = redactor.stream()
    secret = b"learnt-while-the-stream-runs-" + b"7" * 25
    out = [scrubber.feed(b"x" * 10)]  # nothing to hold back for yet when no secret is known
    redactor.add(secret.decode())
    out += [scrubber.feed(secret[:10]), scrubber.feed(secret[10:20]), scrubber.feed(secret[20:] + b" end")]
    out.append(scrubber.flush())
    assert b"".join(out) == b"x" * 10 + M + b" end"


def test_stream_holds_back_longest_minus_one_bytes(padding: list[str]) -> None:
    redactor = redactor_with(padding)
    redactor.add("s" * 70)
    longest = max([70, *(len(secret) for secret in padding)])
    assert redactor.longest == longest
    scrubber = redactor.stream()
    assert scrubber.feed(b"." * 200) == b"." * (200 - (longest - 1))
    assert scrubber.flush() == b"." * (longest - 1)


def text_reference(secrets: list[str], text: str) -> str:
    ordered = sorted(secrets, key=len, reverse=True)
    return re.sub("|".join(map(re.escape, ordered)), MASK, text)


def test_text_masked_as_bodies_are_whatever_its_characters(padding: list[str]) -> None:
    accented, snowman = "pässwörd-1234", "key-☃-ünïcode-5678"
    secrets = [*keys(5, seed=23), accented, snowman, "as-long-as"]  # the last: as long as the mask
    secrets.append(secrets[0] + "-longer")  # a secret containing another
    redactor = redactor_with([*padding, *secrets])
    rng = random.Random(29)
    pieces = [*secrets, "café ", "☃", "日本語", "\ud800", "x", " ", '"', "sk-proj-"]
    for _ in range(300):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 12)))
        assert redactor.scrub_values(text) == text_reference([*padding, *secrets], text), text
    line = f"calling with ☃ {accented} and {snowman}"
    assert redactor.scrub_values(line) == f"calling with ☃ {MASK} and {MASK}"
    plain = "nothing secret in this line, not even é"
    assert redactor.scrub_values(plain) is plain  # nothing found: the text itself


def test_text_scrub_masks_values_then_key_shapes(padding: list[str]) -> None:
    secret = "a-password-of-no-known-shape"
    redactor = redactor_with([*padding, secret])
    line = f"login {secret} with Authorization: Bearer abcdefghijkl and sk-unknownkey123"
    assert redactor.scrub(line) == f"login {MASK} with Authorization: Bearer {MASK} and {MASK}"
    assert Redactor().scrub_values(line) == line  # no secret known: nothing to look for


def test_text_secret_learnt_after_a_scan_is_found_by_the_next(padding: list[str]) -> None:
    redactor = redactor_with(padding)
    assert redactor.scrub("idle") == "idle"
    later = "learnt-for-the-log-" + "4" * 20
    redactor.add(later)
    assert redactor.scrub(f"[{later}]") == f"[{MASK}]"


def test_key_shapes_masked_as_their_plain_definition() -> None:
    """The shapes' expression is written for speed; it must mask what the plain one does."""
    plain = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}|\b(sk|pk|rk|ack|gsk|xox[abpr])[-_][A-Za-z0-9_-]{8,}")
    pieces = ["Bearer ", "bearer\t", "BEARER  ", "sk-", "SK_", "pk-", "rk_", "ack_", "gsk_", "xoxb-", "XOXP_"]
    pieces += ["xoxz-", "abcdefgh", "12345678", "a", "-", "_", ".", "~", " ", "é", "\n", "ask-", "task_", "ssk-"]
    rng = random.Random(31)
    redactor = Redactor()
    for _ in range(5000):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 10)))
        expected = plain.sub(lambda match: (match.group(1) or "") + MASK, text)
        assert redactor.scrub(text) == expected, text
