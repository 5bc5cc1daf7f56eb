"""How an OpenAI-compatible vendor's chat requests depart from OpenAI's, declared as data.

A ``ChatDialect`` says what a vendor's request lacks or calls otherwise: fields it refuses (some vendors
answer 422 to any field they do not know), fields it names differently, ``tool_choice`` values of its
own, the fields each role's message may carry and roles it does not know, the form its tool call ids
must take (ids from another vendor in a conversation are mapped, the same id always to the same one),
whether it takes ``stream_options``, whether it counts reasoning tokens apart, and its error body.
``wire.openai_chat.OpenAIChatWire`` applies it; ``wire.openai_drift`` adds, for vendors whose answers
drift from OpenAI's shape too, bringing them back.

Only what is declared changes: any other field reaches the vendor as the caller sent it (a field the
vendor cannot carry is the vendor's to refuse, not the gateway's to drop unseen).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from api_connector.wire.base import VendorError

_ALPHABET = string.ascii_letters + string.digits


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class ChatDialect:
    # OpenAI's name -> the vendor's (``max_completion_tokens`` -> ``max_tokens``); the caller's value
    # moves under the vendor's name, over any value already there.
    renames: Mapping[str, str] = field(default_factory=_frozen)
    # Fields the vendor refuses: left out rather than failing the call.
    drops: frozenset[str] = frozenset()
    # The vendor takes ``stream_options.include_usage``; False: none is sent (its streams carry their
    # usage unasked, or none).
    stream_usage: bool = True
    # Reasoning tokens are counted apart from ``completion_tokens`` (and are output all the same).
    reasoning_apart: bool = False
    tool_choices: Mapping[str, str] = field(default_factory=_frozen)  # OpenAI value -> the vendor's
    roles: Mapping[str, str] = field(default_factory=_frozen)  # OpenAI role -> the vendor's
    message_fields: Mapping[str, frozenset[str]] | None = None  # per role, the fields kept; None: all
    tool_call_id_length: int | None = None  # ids must be this many letters and digits
    errors: Callable[[bytes], VendorError | None] | None = None  # its error body; None: OpenAI's

    def apply(self, body: dict[str, Any]) -> None:
        """In place, on a request body of OpenAI's shape (``stream_options`` is the wire's to set)."""
        for name in self.drops:
            body.pop(name, None)
        for name, vendor_name in self.renames.items():
            if name in body:
                body[vendor_name] = body.pop(name)
        choice = body.get("tool_choice")
        if isinstance(choice, str) and choice in self.tool_choices:
            body["tool_choice"] = self.tool_choices[choice]
        if self.roles or self.message_fields is not None or self.tool_call_id_length is not None:
            body["messages"] = [self._message(message) for message in body["messages"]]

    def _message(self, raw: object) -> object:
        """A request message with the dialect's roles, fields and tool call ids (a new dict: the
        caller's request is kept as sent, for the cache key and dead letters)."""
        if not isinstance(raw, dict):
            return raw
        role = self.roles.get(raw.get("role", ""), raw.get("role"))
        kept = self.message_fields.get(role or "") if self.message_fields is not None else None
        message = {k: v for k, v in raw.items() if kept is None or k in kept}
        message["role"] = role
        length = self.tool_call_id_length
        if length is not None:
            if "tool_call_id" in message:
                message["tool_call_id"] = _tool_call_id(message["tool_call_id"], length)
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                message["tool_calls"] = [
                    {**call, "id": _tool_call_id(call.get("id"), length)} if isinstance(call, dict) else call
                    for call in calls
                ]
        return message


def _tool_call_id(call_id: object, length: int | None) -> object:
    """An id in the vendor's form: kept if it has it, else a stable one derived from it."""
    if length is None or not isinstance(call_id, str):
        return call_id
    if len(call_id) == length and call_id.isascii() and call_id.isalnum():
        return call_id
    digest = int.from_bytes(hashlib.sha256(call_id.encode("utf-8")).digest(), "big")
    letters = []
    for _ in range(length):
        digest, rest = divmod(digest, len(_ALPHABET))
        letters.append(_ALPHABET[rest])
    return "".join(letters)
