"""Recorded provider traffic (``tests/data/recorded``) as typed values.

Two sources: VCR cassettes (YAML; the request as ``parsed_body``, or as the JSON text ``body`` in
cassettes written by plain vcrpy; the response as ``parsed_body`` for JSON or as raw text) and raw SSE
streams (``.txt``; ``.chunks.txt`` holds one event's data a line, as vercel-ai keeps them). JSON bodies
are re-serialised from the parsed form, so byte-exact framing of the original is not kept; the content
is. A body recorded as the gzip bytes the vendor sent (``content-encoding: gzip``) is kept decoded.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    body: str | None = None

    def json_body(self) -> Any:
        if "parsed_body" in self.model_fields_set or not self.body:
            return self.parsed_body
        return orjson.loads(self.body)


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


def load_stream(path: str | Path) -> bytes:
    """A raw recorded SSE stream, as the vendor sent it (``.chunks.txt``: each line framed as one event,
    then the ``[DONE]`` those files leave out, which Cohere's and Mistral's streams end with)."""
    resolved = _resolve(path)
    raw = resolved.read_bytes()
    if not resolved.name.endswith(".chunks.txt"):
        return raw
    events = [b"data: " + line + b"\n\n" for line in raw.splitlines() if line.strip()]
    return b"".join(events) + b"data: [DONE]\n\n"


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
