"""The uploaded audio: kept in memory up to its bound and in a file beyond, read again whole by every
reader, its SHA-256 the same whichever way it was kept."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from api_connector.core.transcription import _IN_MEMORY, AudioUpload


def _read(upload: AudioUpload) -> bytes:
    async def gather() -> bytes:
        return b"".join([piece async for piece in upload.chunks()])

    return asyncio.run(gather())


@pytest.mark.parametrize("size", [0, 1000, _IN_MEMORY, _IN_MEMORY + 1, 3 * _IN_MEMORY + 12345])
def test_every_reader_gets_the_whole_file_and_its_digest(size: int) -> None:
    data = bytes(range(251)) * (size // 251) + bytes(size % 251)
    upload = AudioUpload("a.wav", "audio/wav")
    for start in range(0, size, 70_000):  # pieces as a reader hands them over
        upload.write(data[start : start + 70_000])
    try:
        assert upload.size == size
        assert (upload._file is None) == (size <= _IN_MEMORY), "in memory exactly up to the bound"
        assert _read(upload) == data
        assert _read(upload) == data, "a second attempt reads it again from its start"
        assert upload.read_all() == data
        assert upload.sha256 == hashlib.sha256(data).hexdigest()
        assert upload.opening() == data[:64]
    finally:
        upload.close()


def test_a_piece_written_after_the_digest_was_asked_for_changes_it() -> None:
    upload = AudioUpload.of(b"first")
    assert upload.sha256 == hashlib.sha256(b"first").hexdigest()
    upload.write(bytearray(b" second"))
    assert upload.sha256 == hashlib.sha256(b"first second").hexdigest()
    upload.close()


def test_a_mutable_buffer_is_copied_when_kept() -> None:
    buffer = bytearray(b"abc")
    upload = AudioUpload.of(bytes(0))
    upload.write(buffer)
    buffer[0:3] = b"xyz"
    assert upload.read_all() == b"abc"
    upload.close()
