"""The live-transcription recordings the conformance suite replays (``test_live.py``), listed for
``test_replay.test_every_recording_is_replayed``."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent.parent / "data"
LISTEN = DATA / "recorded" / "deepgram" / "listen"
RESULTS = (
    LISTEN / "testing-nova-3-results.json",
    LISTEN / "preamble-nova-3-results.json",
    LISTEN / "testing-base-empty-results.json",
)
OPTIONS = LISTEN / "testing-nova-3-options.json"
EVENTS = DATA / "documented" / "deepgram" / "listen-events.json"
ASSEMBLYAI_STREAMING = DATA / "documented" / "assemblyai" / "streaming-messages.json"
LIVE_RECORDINGS = {path.resolve() for path in (*RESULTS, OPTIONS, EVENTS, ASSEMBLYAI_STREAMING)}
