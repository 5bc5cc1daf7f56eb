"""Reading multipart/form-data as it arrives: the same parts however the body is cut into pieces, the
file's pieces handed on uncopied, and malformed forms refused."""

from __future__ import annotations

import random

import pytest
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from api_connector.wire.form_reader import PART_END, Event, FormReader, PartData, PartStart, _names

BOUNDARY = "b0undary-7f3a"


def form(*parts: tuple[str, bytes], preamble: bytes = b"", epilogue: bytes = b"\r\n") -> bytes:
    body = preamble + (b"\r\n" if preamble else b"")
    for head, content in parts:
        body += f"--{BOUNDARY}\r\n{head}\r\n\r\n".encode() + content + b"\r\n"
    return body + f"--{BOUNDARY}--".encode() + epilogue


def parts_of(events: list[Event]) -> list[tuple[PartStart, bytes]]:
    """The parts the events describe: each start with its body's bytes joined."""
    found: list[tuple[PartStart, bytearray]] = []
    closed = True
    for event in events:
        if isinstance(event, PartStart):
            assert closed, "a part starts before the last one ended"
            found.append((event, bytearray()))
            closed = False
        elif isinstance(event, PartData):
            assert not closed and event.data, "data only inside a part, never empty"
            found[-1][1].extend(event.data)
        else:
            assert event is PART_END and not closed
            closed = True
    assert closed
    return [(start, bytes(data)) for start, data in found]


def read(body: bytes, cuts: list[int]) -> list[tuple[PartStart, bytes]]:
    reader = FormReader(BOUNDARY)
    events: list[Event] = []
    previous = 0
    for cut in [*sorted(cuts), len(body)]:
        events += reader.feed(body[previous:cut])
        previous = cut
    reader.close()
    return parts_of(events)


# The audio holds near-delimiters: a CRLF and dashes, the boundary without its CRLF, a boundary cut short.
AUDIO = bytes(range(256)) * 40 + b"\r\n--b0undary-7f3\r\n-" + f"--{BOUNDARY}".encode() + bytes(range(256)) * 3
BODY = form(
    ('Content-Disposition: form-data; name="model"', b"up/whisper-1"),
    ('Content-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav', AUDIO),
    ('Content-Disposition: form-data; name="timestamp_granularities[]"', b"word"),
    ('Content-Disposition: form-data; name="empty"', b""),
)
EXPECTED = [
    (PartStart("model", None, ""), b"up/whisper-1"),
    (PartStart("file", "a.wav", "audio/wav"), AUDIO),
    (PartStart("timestamp_granularities[]", None, ""), b"word"),
    (PartStart("empty", None, ""), b""),
]


def test_a_form_in_one_piece() -> None:
    assert read(BODY, []) == EXPECTED


@pytest.mark.parametrize("seed", range(40))
def test_the_same_parts_however_the_body_is_cut(seed: int) -> None:
    rng = random.Random(seed)
    count = rng.choice([1, 3, 20, 200])
    largest = rng.choice([4, 60, 5000, len(BODY)])
    cuts = [
        rng.randrange(len(BODY)) if rng.random() < 0.5 else rng.randrange(min(largest, len(BODY))) for _ in range(count)
    ]
    assert read(BODY, cuts) == EXPECTED


def test_a_byte_at_a_time() -> None:
    assert read(BODY, list(range(1, len(BODY)))) == EXPECTED


def test_every_cut_around_the_closing_delimiter_of_the_file() -> None:
    end = BODY.index(AUDIO) + len(AUDIO)
    for cut in range(end - 40, end + 40):
        assert read(BODY, [cut]) == EXPECTED, cut
        assert read(BODY, [cut, cut + 7]) == EXPECTED, cut


def test_pieces_of_the_file_are_handed_on_as_they_came() -> None:
    audio = bytes(range(256)) * 4096  # 1 MiB
    body = form(('Content-Disposition: form-data; name="file"; filename="a.wav"', audio))
    start = body.index(audio)
    pieces = [body[:start], *(body[at : at + 65536] for at in range(start, len(body), 65536))]
    reader = FormReader(BOUNDARY)
    handed = [e.data for piece in pieces for e in reader.feed(piece) if isinstance(e, PartData)]
    reader.close()
    assert b"".join(handed) == audio
    assert all(a is b for a, b in zip(handed[:-1], pieces[1:-1], strict=False)), "whole pieces are not copied"


def test_preamble_epilogue_and_padding_are_ignored() -> None:
    body = form(('Content-Disposition: form-data; name="model"', b"m"), preamble=b"This is a preamble.")
    body = body.replace(f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY} \t\r\n".encode())
    assert read(body + b"epilogue --not a part\r\n", [5, 30]) == [(PartStart("model", None, ""), b"m")]


def test_a_part_without_headers_and_one_named_in_rfc_5987() -> None:
    body = f"--{BOUNDARY}\r\n\r\nnameless\r\n--{BOUNDARY}\r\n".encode()
    body += b"Content-Disposition: form-data; name=\"file\"; filename*=utf-8''%E2%82%AC.wav\r\n\r\nx\r\n"
    body += f"--{BOUNDARY}--".encode()
    assert read(body, []) == [(PartStart(None, None, ""), b"nameless"), (PartStart("file", "\u20ac.wav", ""), b"x")]


@pytest.mark.parametrize(
    "body",
    [
        form(('Content-Disposition: form-data; name="model"', b"m"))[:-20],  # no closing delimiter
        f"--{BOUNDARY}\r\nContent-Disposition form-data\r\n\r\nx\r\n--{BOUNDARY}--".encode(),  # not a header
        f"--{BOUNDARY}junk\r\n\r\nx\r\n--{BOUNDARY}--".encode(),  # more than the boundary on its line
        f"--{BOUNDARY}\r\nX-Long: {'a' * 20_000}\r\n\r\nx\r\n--{BOUNDARY}--".encode(),  # endless headers
        b"",
    ],
)
def test_malformed_forms_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        read(body, [len(body) // 2])


@pytest.mark.parametrize("boundary", ["", "x" * 71])
def test_a_boundary_missing_or_too_long_is_refused(boundary: str) -> None:
    with pytest.raises(ValueError):
        FormReader(boundary)


@pytest.mark.parametrize(
    "header",
    [
        'form-data; name="file"; filename="tone.wav"',
        "form-data; name=model",
        'form-data;name="a b.wav"; filename="x y;z.wav"',
        'form-data; name="f"; filename="a\\"b.wav"',
        "form-data; name=\"file\"; filename*=utf-8''%E2%82%AC.wav",
        'form-data; name="x"; filename=""',
        'form-data; NAME="up"',
        'form-data; name="\u00e9"',
        "form-data",
        'attachment; filename="x"',
        'form data; name="x"',
    ],
)
@pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionHeader")
def test_part_names_read_as_aiohttp_reads_them(header: str) -> None:
    _, params = parse_content_disposition(header)
    expected = (content_disposition_filename(params, "name"), content_disposition_filename(params, "filename"))
    assert _names(header) == expected
