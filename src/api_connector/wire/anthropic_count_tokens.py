"""Anthropic's token counting (``POST /v1/messages/count_tokens``) for the canonical chat request.

The body is the Messages request the Anthropic chat wire would send, less what counting does not take
(``max_tokens``, sampling, stop sequences, metadata, ``stream``): the count is of what the gateway
would really send, translation included.
"""

from __future__ import annotations

import orjson

from api_connector.core.chat import ChatRequest
from api_connector.wire.anthropic_messages import encode_messages_request
from api_connector.wire.anthropic_types import TokenCount, decode_anthropic_error
from api_connector.wire.base import VendorError

_COUNTED = ("model", "messages", "system", "tools", "tool_choice")


class AnthropicCountTokensWire:
    name = "anthropic_count_tokens"

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        body = encode_messages_request(request, upstream_model)
        return orjson.dumps({key: body[key] for key in _COUNTED if key in body})

    def decode_response(self, body: bytes) -> int:
        return TokenCount.model_validate_json(body).input_tokens

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_anthropic_error(body)


ANTHROPIC_COUNT_TOKENS = AnthropicCountTokensWire()
