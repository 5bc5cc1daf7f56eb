"""Real speech for the tests: made by espeak-ng, converted by sox, and read back by ``sox --i``.

``spoken(text, fmt)`` is what a speech vendor would send for ``text`` in ``fmt`` (mp3, wav, flac, or
pcm: raw 16-bit little-endian mono at 24 kHz, as OpenAI's pcm is), made once per (text, format).
``audio_info(data, fmt)`` is what sox reads in such bytes. Both need the Debian packages espeak-ng,
sox and libsox-fmt-mp3 (``scripts/test.sh`` installs them when missing).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

RATE = 24_000
_SUFFIX = {"mp3": "mp3", "wav": "wav", "flac": "flac", "pcm": "raw"}
_RAW = ["-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-r", str(RATE)]


def _tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    assert not missing, f"{missing} not installed: run scripts/test.sh (it installs espeak-ng and sox)"


def _output(path: Path, fmt: str) -> list[str]:
    if fmt == "pcm":
        return [*_RAW, str(path)]
    # 16-bit samples where the format stores samples (an MP3 encoder takes no sample size).
    return [str(path)] if fmt == "mp3" else ["-b", "16", str(path)]


@functools.cache
def spoken(text: str, fmt: str = "wav") -> bytes:
    _tools()
    with tempfile.TemporaryDirectory() as tmp:
        said = Path(tmp) / "said.wav"
        subprocess.run(["espeak-ng", "-w", str(said), text], check=True, capture_output=True)
        out = Path(tmp) / f"out.{_SUFFIX[fmt]}"
        subprocess.run(["sox", str(said), "-r", str(RATE), "-c", "1", *_output(out, fmt)], check=True)
        return out.read_bytes()


def audio_info(data: bytes, fmt: str) -> dict[str, str]:
    """``sox --i``'s fields ("Sample Rate", "Channels", "Duration", ...) for ``data`` read as ``fmt``
    (raw samples are first put in a WAV file by sox); fails when sox cannot read it."""
    _tools()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"audio.{_SUFFIX[fmt]}"
        path.write_bytes(data)
        if fmt == "pcm":
            wrapped = Path(tmp) / "audio.wav"
            subprocess.run(["sox", *_RAW, str(path), str(wrapped)], check=True, capture_output=True)
            path = wrapped
        done = subprocess.run(["sox", "--i", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"sox cannot read the {fmt} audio: {done.stderr.strip()}"
    fields = {}
    for line in done.stdout.splitlines():
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip()] = value.strip()
    return fields


def seconds(info: dict[str, str]) -> float:
    """The duration ``sox --i`` read, in seconds ("00:00:02.38 = 57024 samples ..." -> 2.38)."""
    hours, minutes, rest = info["Duration"].split(" ")[0].split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)
