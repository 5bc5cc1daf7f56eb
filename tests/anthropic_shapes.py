"""Anthropic Messages shapes in tests: stream events, their shape, the message the official SDK's stream
helper assembles from them, and a recorded request as it arrives after the translation."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import orjson
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message

from tests.recorded import sse_events

Event = dict[str, Any]


def parse(body: bytes) -> list[Event]:
    """Every event of an Anthropic SSE body; each event's SSE name must be its ``type``."""
    parsed = []
    for event in sse_events(body):
        data = orjson.loads(event.raw)
        assert event.event == data["type"], "the SSE event name is the event's type"
        parsed.append(data)
    return parsed


def shape(events: list[Event]) -> list[tuple[str, str | None]]:
    """Each event's type with its delta's or content block's type."""
    return [(e["type"], (e.get("delta") or e.get("content_block") or {}).get("type")) for e in events]


def collapsed(events: list[Event]) -> list[tuple[str, str | None]]:
    """The shape with runs of the same delta as one: chunking differs between vendors, not content."""
    return [key for key, _ in groupby(shape(events))]


def assemble(events: list[Event]) -> Message:
    """The message the official SDK's stream helper builds from the events."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        if event["type"] not in ("ping", "error"):
            snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    return snapshot


def blocks(message: Message) -> list[dict[str, Any]]:
    """The text, tool use and thinking blocks of a message, as comparable dicts."""
    keep = {"text": ("text",), "tool_use": ("id", "name", "input"), "thinking": ("thinking", "signature")}
    return [
        {"type": block.type, **{key: getattr(block, key) for key in keep[block.type]}}
        for block in message.content
        if block.type in keep
    ]


def without_default_is_error(body: dict[str, Any]) -> dict[str, Any]:
    """A recorded Messages request as it arrives through the gateway: ``is_error: false`` (a tool
    result's default) is not carried by the canonical request, so it is not sent."""

    def block(item: Any) -> Any:
        return {k: v for k, v in item.items() if (k, v) != ("is_error", False)} if isinstance(item, dict) else item

    messages = [
        {**m, "content": [block(b) for b in m["content"]] if isinstance(m["content"], list) else m["content"]}
        for m in body["messages"]
    ]
    return {**body, "messages": messages}
