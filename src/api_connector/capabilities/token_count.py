"""Token counting: a chat request in, the input tokens a vendor's own tokenizer counts for it out.

Declared by providers that can count (Anthropic's ``/v1/messages/count_tokens``); routed like chat, so
a route's counting targets fail over between themselves and the others are passed over. Counting is
free at the vendor: it is metered as nothing, reserves no tokens, and is deterministic (identical
requests share one call and are cached by default). The caller-facing route answers the gateway's own
estimate when no target of the route can count (``api.anthropic_routes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import orjson
from pydantic import ValidationError

from api_connector.capabilities.base import CapabilitySpec, endpoint_of, send_json
from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.routing.catalog import Catalog, Route
from api_connector.routing.exchange import Exchange
from api_connector.wire.base import TokenCountWire


@dataclass(frozen=True, slots=True)
class TokenCount:
    input_tokens: int

    def answer(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens}


class TokenCountCapability(CapabilitySpec[ChatRequest, TokenCount]):
    capability: ClassVar[Capability] = Capability.TOKEN_COUNT
    kind: ClassVar[str] = "token_count"
    cached_by_default: ClassVar[bool] = True

    def route(self, catalog: Catalog, project_id: str, request: ChatRequest) -> Route:
        return catalog.resolve(project_id, request.model)

    def usage(self, result: TokenCount) -> Usage:
        return Usage()

    def cache_material(self, request: ChatRequest) -> Any:
        # Not the chat request's own material: the cache key does not name the capability.
        return {"count_tokens": request.wire_dict()}

    def deterministic(self, request: ChatRequest) -> bool:
        return True

    def dump_result(self, result: TokenCount) -> bytes:
        return orjson.dumps(result.answer())

    def load_result(self, raw: bytes, usage: Usage) -> TokenCount:
        return TokenCount(int(orjson.loads(raw)["input_tokens"]))

    async def fetch(self, request: ChatRequest, exchange: Exchange) -> TokenCount:
        target = exchange.target
        endpoint = endpoint_of(target, Capability.TOKEN_COUNT)
        wire = cast(TokenCountWire, endpoint.wire)  # a token-count endpoint declares a token-count wire
        body = wire.encode_request(request, target.model)
        return await send_json(
            exchange, endpoint, body, lambda raw: TokenCount(wire.decode_response(raw)), "a token count"
        )

    def answer_json(self, result: TokenCount) -> tuple[int, Any]:
        return 200, result.answer()

    def dead_letter(self, request: ChatRequest) -> tuple[str, dict[str, Any]]:
        return request.model, {"body": request.wire_dict()}

    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> ChatRequest:
        try:
            return ChatRequest.from_json_obj(dict(payload.get("body") or {}))
        except ValidationError as exc:
            raise ValidationFailed(f"the stored request is no longer valid: {exc}") from None


TOKEN_COUNT = TokenCountCapability()
