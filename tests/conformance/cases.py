"""The conformance table: recorded provider traffic and what an OpenAI client must receive for it.

Each case replays one recording (a VCR cassette, or a raw SSE stream) as the upstream of one provider
instance, and runs its steps in order, each consuming the next recorded answer (two when the gateway
retries a rate-limited call). For OpenAI-shaped providers a step sends the recorded request itself
(``request=None``); for others it gives the OpenAI request whose translation is the recorded one, minus
the fields no OpenAI request can express (``not_in_openai_shape``).
``PREVIOUS_REPLY`` in a step's messages stands for the assistant turn the client received in the step
before, sent back as real clients do. ``RECORDED`` as a text means "the text of the recorded answer"
(read from the vendor's JSON by ``harness.recorded_answer``), for answers too long to spell out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import openai

from tests.conformance.harness import UsageTuple
from tests.recorded import RECORDED as RECORDED_DIR
from tests.recorded import Interaction, RecordedRequest, load_cassette, stream_interaction

CONFORMANCE_DATA = Path(__file__).parent / "data"
DOCUMENTED_DATA = Path(__file__).parents[1] / "data" / "documented"


class _Marker(Enum):
    RECORDED = "the text of the recorded answer"
    PREVIOUS_REPLY = "the assistant turn the client received in the step before"


RECORDED = _Marker.RECORDED
PREVIOUS_REPLY = _Marker.PREVIOUS_REPLY


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: dict[str, Any] | str  # a dict is compared as parsed JSON; a str byte for byte


@dataclass(frozen=True)
class Answer:
    text: str | _Marker  # "" when the answer has no text (tool calls only, refusals)
    finish_reason: str
    usage: UsageTuple  # prompt, completion, total, cached
    tool_calls: tuple[Call, ...] = ()
    # Streams: the usage chunk has empty choices (OpenAI's shape); False for vendors that do otherwise.
    usage_chunk_alone: bool = True


@dataclass(frozen=True)
class Failure:
    error: type[openai.APIStatusError]
    status: int
    message: str  # the provider's message, verbatim
    upstream_type: str | None = None
    upstream_code: str | None = None
    param: str | None = None


@dataclass(frozen=True)
class BrokenStream:
    """A stream that fails after its first chunks: the SDK raises ``openai.APIError`` mid-iteration."""

    message: str  # the provider's message, verbatim


@dataclass(frozen=True)
class Step:
    outcome: Answer | Failure | BrokenStream
    request: dict[str, Any] | None = None  # None: the recorded request (OpenAI-shaped providers only)
    not_in_openai_shape: tuple[str, ...] = ()
    # Recorded answers this step consumes: more than one when the gateway retries a retryable failure.
    upstream_calls: int = 1


@dataclass(frozen=True)
class Case:
    id: str
    provider: str  # a key of REGISTRY
    # below tests/data/recorded, or tests/conformance/data for "conformance/...", or tests/data/documented
    # for "documented/..." (vendors' documented examples, where nothing recorded shows an answer)
    source: str
    steps: tuple[Step, ...]
    base_url: str | None = None  # the vendor's real base URL when the provider type has none
    # The recording answered another call, or none (raw SDK streams): serve it on the chat endpoint and
    # compare only the model of the request the upstream received.
    rerouted: bool = False
    # A known gateway bug makes the variant without include_usage fail: its description (strict xfail).
    bug_without_usage: str | None = None

    @property
    def path(self) -> Path:
        if self.source.startswith("conformance/"):
            return CONFORMANCE_DATA / self.source.removeprefix("conformance/")
        if self.source.startswith("documented/"):
            return DOCUMENTED_DATA / self.source.removeprefix("documented/")
        return RECORDED_DIR / self.source

    def interactions(self, chat_uri: str) -> list[Interaction]:
        if self.path.suffix == ".txt":
            return [stream_interaction(self.path, uri=chat_uri)]
        recorded = load_cassette(self.path)
        if not self.rerouted:
            return recorded
        return [
            Interaction(RecordedRequest(item.request.method, chat_uri, item.request.body), item.response)
            for item in recorded
        ]

    def streams(self) -> bool:
        """Whether any answer of the recording is streamed (such cases run with and without usage)."""
        return self.path.suffix == ".txt" or any(item.response.is_sse for item in load_cassette(self.path))


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def system(content: str) -> dict[str, Any]:
    return {"role": "system", "content": content}


def tool_result(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}
