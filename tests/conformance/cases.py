"""The conformance table: recorded provider traffic and what an OpenAI client must receive for it.

Each case replays one recording (a VCR cassette, or a raw SSE stream) as the upstream of one provider
instance, and runs its steps in order, each consuming the next recorded answer (two when the gateway
retries a rate-limited call). For OpenAI-shaped providers a step sends the recorded request itself
(``request=None``); for others it gives the OpenAI request whose translation is the recorded one, minus
the fields no OpenAI request can express (``not_in_openai_shape``).
``PREVIOUS_REPLY`` in a step's messages stands for the assistant turn the client received in the step
before, sent back as real clients do. ``RECORDED`` as a text means "the text of the recorded answer"
(read from the vendor's JSON by ``harness.recorded_answer``), for answers too long to spell out.
Where the recording's client wrote a field its own way (its own tool call ids, its own wrapping of a
tool's result), a step's ``edit`` rewrites the recorded request as the gateway writes it, and says why.
Sources are below ``tests/data/recorded``, ``documented/...`` (``tests/data/documented``: written from a
vendor's documented examples where nothing was recorded) or ``conformance/...``; vercel-ai's answers
kept without their request (``.json``, ``.chunks.txt``) are served on the chat endpoint (``rerouted``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import openai

from tests.conformance.harness import UsageTuple
from tests.recorded import RECORDED as RECORDED_DIR
from tests.recorded import (
    Interaction,
    RecordedRequest,
    RecordedResponse,
    chunks_interaction,
    json_array_as_sse,
    load_cassette,
    stream_interaction,
)

CONFORMANCE_DATA = Path(__file__).parent / "data"
DOCUMENTED_DATA = Path(__file__).parents[1] / "data" / "documented"


class _Marker(Enum):
    RECORDED = "the text of the recorded answer"
    PREVIOUS_REPLY = "the assistant turn the client received in the step before"


RECORDED = _Marker.RECORDED
PREVIOUS_REPLY = _Marker.PREVIOUS_REPLY


@dataclass(frozen=True)
class StepReply:
    """In a step's messages: the assistant turn the client received in step ``step`` (from 0)."""

    step: int


@dataclass(frozen=True)
class CallId:
    """As a tool message's ``tool_call_id``: the id of the ``index``-th tool call the client received
    in step ``step`` (from 0), for ids the gateway makes (or that carry what the vendor needs back)."""

    step: int
    index: int = 0


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
    retry_after: str | None = None  # the Retry-After header the caller must get, when the vendor said when
    code: str | None = None  # the gateway's own error code, where the class alone does not say it


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
    # The recorded request as the gateway writes it, where the recording's client wrote something its
    # own way (applied after not_in_openai_shape).
    edit: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Case:
    id: str
    provider: str  # a key of REGISTRY
    # Below tests/data/recorded; "conformance/..." below tests/conformance/data; "documented/..." below
    # tests/data/documented (written from the vendor's documentation: nothing recorded was found).
    source: str
    steps: tuple[Step, ...]
    base_url: str | None = None  # the vendor's real base URL when the provider type has none
    # The recording answered another call, or none (raw SDK streams): serve it on the chat endpoint and
    # compare only the model of the request the upstream received.
    rerouted: bool = False
    # A known gateway bug makes the variant without include_usage fail: its description (strict xfail).
    bug_without_usage: str | None = None
    status: int = 200  # of an answer kept as a bare JSON body (``.json``), which does not say it
    # Recorded calls that are not chat calls (the recording client's own token exchange), by path ending.
    skip: tuple[str, ...] = ()
    # The recording streamed Google's JSON array (no alt=sse): served as the same events in SSE.
    reframed: bool = False
    # What the instance's credential is: a key, or a Google service account traded for tokens.
    credential: Literal["key", "service_account"] = "key"
    # The recording's client named the model only in the path (an Azure deployment), not in its bodies:
    # the client names it as its model, and the gateway sends it in the body too (Azure ignores it).
    deployment: str | None = None
    # The answer made from a file that is no cassette (a vendor's answer kept without its request, decoded
    # stream events to frame in the vendor's own framing); None: a cassette, or a raw SSE stream (.txt).
    answer: Callable[[Path], RecordedResponse] | None = None

    @property
    def path(self) -> Path:
        if self.source.startswith("conformance/"):
            return CONFORMANCE_DATA / self.source.removeprefix("conformance/")
        if self.source.startswith("documented/"):
            return DOCUMENTED_DATA / self.source.removeprefix("documented/")
        return RECORDED_DIR / self.source

    def interactions(self, chat_uris: Sequence[str]) -> list[Interaction]:
        """The recorded answers; a rerouted one is served on the chat URI of the step it answers."""
        chat_uri = chat_uris[0]
        if self.answer is not None:
            return [Interaction(RecordedRequest("POST", chat_uri), self.answer(self.path))]
        if self.path.name.endswith(".chunks.txt"):
            return [chunks_interaction(self.path, uri=chat_uri)]
        if self.path.suffix == ".txt":
            return [stream_interaction(self.path, uri=chat_uri)]
        if self.path.suffix == ".json":
            answer = RecordedResponse(self.status, self.path.read_bytes(), {"content-type": "application/json"})
            return [Interaction(RecordedRequest("POST", chat_uri), answer)]
        recorded = [item for item in load_cassette(self.path) if not item.request.path.endswith(self.skip)]
        if self.reframed:
            recorded = [Interaction(item.request, json_array_as_sse(item.response)) for item in recorded]
        if not self.rerouted:
            return recorded
        return [
            Interaction(RecordedRequest(item.request.method, uri, item.request.body), item.response)
            for item, uri in zip(recorded, chat_uris, strict=False)
        ]

    def streams(self) -> bool:
        """Whether any answer of the recording is streamed (such cases run with and without usage)."""
        return any(item.response.streamed for item in self.interactions(["http://recorded/chat"] * len(self.steps)))


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def system(content: str) -> dict[str, Any]:
    return {"role": "system", "content": content}


def tool_result(call_id: str | CallId, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}
