"""Recorded provider traffic (``tests/data/recorded``) as typed values.

Two sources: VCR cassettes (YAML; the request as ``parsed_body``, or as the JSON text ``body`` in
cassettes written by plain vcrpy; the response as ``parsed_body`` for JSON or as raw text, gzip
bodies decoded) and raw SSE streams (``.txt``). JSON bodies are re-serialised from the parsed form, so
byte-exact framing of the original is not kept; the content is. Two stream recordings of another
framing are served as the SSE the gateway asks for, their events unchanged: Google's JSON-array
stream (``streamGenerateContent`` asked without ``alt=sse``) and vercel-ai's ``.chunks.txt`` fixtures
(one decoded event per line).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import yaml
from pydantic import BaseModel, ConfigDict

from api_connector.wire.sse import SSEEvent, SSEParser

RECORDED = Path(__file__).parent / "data" / "recorded"

# Framing headers describe the recorded bytes, not the re-serialised body a replay sends.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    uri: str
    body: Any = None  # the JSON the client sent, as parsed; None when it sent none

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names, first value

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json")

    @property
    def is_sse(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    @property
    def is_event_stream(self) -> bool:
        """AWS's binary event stream (Bedrock's ConverseStream)."""
        return self.content_type.startswith("application/vnd.amazon.eventstream")

    @property
    def streamed(self) -> bool:
        return self.is_sse or self.is_event_stream

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True, slots=True)
class Interaction:
    request: RecordedRequest
    response: RecordedResponse


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Status(_Open):
    code: int


class _RawBody(_Open):
    string: str | bytes


class _Request(_Open):
    method: str
    uri: str
    parsed_body: Any = None
    body: str | None = None  # the raw text, in cassettes that did not parse it

    def json_body(self) -> Any:
        if "parsed_body" in self.model_fields_set or not self.body:
            return self.parsed_body
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return self.body  # a form (an OAuth token request), kept as its text


class _Response(_Open):
    status: _Status
    headers: dict[str, list[str] | str] = {}
    parsed_body: Any = None
    body: _RawBody | None = None


class _Interaction(_Open):
    request: _Request
    response: _Response


class _Cassette(_Open):
    interactions: list[_Interaction]


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else RECORDED / path


def _headers(raw: dict[str, list[str] | str]) -> dict[str, str]:
    headers = {}
    for name, value in raw.items():
        first = value[0] if isinstance(value, list) else value
        if name.lower() not in _FRAMING_HEADERS:
            headers[name.lower()] = first
    return headers


def _first(raw: dict[str, list[str] | str], name: str) -> str | None:
    for key, value in raw.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return None


def _response(raw: _Response) -> RecordedResponse:
    if "parsed_body" in raw.model_fields_set:
        body = orjson.dumps(raw.parsed_body)
    elif raw.body is not None:
        text = raw.body.string
        body = text.encode("utf-8") if isinstance(text, str) else text
        if _first(raw.headers, "content-encoding") == "gzip" and body.startswith(b"\x1f\x8b"):
            body = gzip.decompress(body)
    else:
        body = b""
    return RecordedResponse(status=raw.status.code, body=body, headers=_headers(raw.headers))


def load_cassette(path: str | Path) -> list[Interaction]:
    """The interactions of a cassette; a relative path is taken below ``tests/data/recorded``."""
    cassette = _Cassette.model_validate(yaml.safe_load(_resolve(path).read_text("utf-8")))
    return [
        Interaction(
            request=RecordedRequest(
                method=item.request.method, uri=item.request.uri, body=item.request.json_body()
            ),
            response=_response(item.response),
        )
        for item in cassette.interactions
    ]


_DONE_ENDED = ("mistral-",)


def load_stream(path: str | Path) -> bytes:
    """A raw recorded SSE stream, as the vendor sent it; a vercel-ai ``.chunks.txt`` fixture (one
    decoded event a line) framed as SSE, its events unchanged."""
    resolved = _resolve(path)
    if not resolved.name.endswith(".chunks.txt"):
        return resolved.read_bytes()
    lines = resolved.read_text("utf-8").splitlines()
    body = sse_body([orjson.loads(line) for line in lines if line.strip()])
    # vercel-ai keeps the events without the ``[DONE]`` that OpenAI-shaped streams (Mistral's) end with.
    return body + b"data: [DONE]\r\n\r\n" if resolved.name.startswith(_DONE_ENDED) else body


def stream_interaction(path: str | Path, *, uri: str, request_body: Any = None) -> Interaction:
    """A raw SSE stream as a 200 ``text/event-stream`` answer to a POST on ``uri`` (for replays)."""
    return Interaction(
        request=RecordedRequest(method="POST", uri=uri, body=request_body),
        response=RecordedResponse(
            status=200, body=load_stream(path), headers={"content-type": "text/event-stream; charset=utf-8"}
        ),
    )


def sse_events(body: bytes) -> list[SSEEvent]:
    """Every event of an SSE body, including a last one without its closing blank line."""
    parser = SSEParser()
    events = parser.feed(body)
    last = parser.close()
    return [*events, last] if last is not None else events


_SSE_HEADERS = {"content-type": "text/event-stream"}


def sse_body(events: list[Any]) -> bytes:
    """JSON events as an SSE body, framed as Google frames its streams."""
    return b"".join(b"data: " + orjson.dumps(event) + b"\r\n\r\n" for event in events)


def json_array_as_sse(response: RecordedResponse) -> RecordedResponse:
    """A JSON-array stream (Google's framing without ``alt=sse``) as the same events in SSE; any other
    answer as it is."""
    if response.status != 200 or response.is_sse or not response.body.lstrip().startswith(b"["):
        return response
    events = response.json()
    return replace(response, body=sse_body(events), headers={**response.headers, **_SSE_HEADERS})


def chunks_interaction(path: str | Path, *, uri: str) -> Interaction:
    """A vercel-ai ``.chunks.txt`` fixture (one event a line) as a 200 SSE answer to a POST on ``uri``."""
    return Interaction(RecordedRequest("POST", uri), RecordedResponse(200, load_stream(path), _SSE_HEADERS))
