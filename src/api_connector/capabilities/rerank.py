"""Rerank: the gateway's rerank request (``core.rerank``) in, any provider's rerank wire out.

Routed like chat (a route may list rerank targets of several providers and fails over between them),
metered in what the vendor bills (Cohere's searches, the others' input tokens), cached by default, and
deterministic: identical requests in flight at once share one upstream call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from pydantic import ValidationError

from api_connector.capabilities.base import CapabilitySpec, endpoint_of, send_json
from api_connector.core.capabilities import Capability
from api_connector.core.rerank import RerankRequest, RerankResult
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.observability.redaction import Redactor
from api_connector.routing.catalog import Catalog, Route
from api_connector.routing.exchange import Exchange
from api_connector.wire.base import RerankWire


class RerankCapability(CapabilitySpec[RerankRequest, RerankResult]):
    capability: ClassVar[Capability] = Capability.RERANK
    kind: ClassVar[str] = "rerank"
    cached_by_default: ClassVar[bool] = True

    def route(self, catalog: Catalog, project_id: str, request: RerankRequest) -> Route:
        return catalog.resolve(project_id, request.model)

    def estimate_tokens(self, request: RerankRequest) -> int:
        # Token-billed rerankers read the query once per document, and each document once (about
        # four characters a token); search-billed ones settle at no tokens.
        texts = request.texts()
        chars = len(request.query) * len(texts) + sum(len(text) for text in texts)
        return (chars + 3) // 4

    def usage(self, result: RerankResult) -> Usage:
        return result.usage

    def cache_material(self, request: RerankRequest) -> Any:
        return request.model_dump(mode="json", exclude_none=True)

    def deterministic(self, request: RerankRequest) -> bool:
        return True

    def dump_result(self, result: RerankResult) -> bytes:
        return result.dumps()

    def load_result(self, raw: bytes, usage: Usage) -> RerankResult:
        return RerankResult.loads(raw, usage)

    async def fetch(self, request: RerankRequest, exchange: Exchange) -> RerankResult:
        target = exchange.target
        endpoint = endpoint_of(target, Capability.RERANK)
        wire = cast(RerankWire, endpoint.wire)  # a rerank endpoint declares a rerank wire
        body = wire.encode_request(request, target.model)
        return await send_json(
            exchange, endpoint, body, lambda raw: wire.decode_response(raw, request, target.model), "a rerank answer"
        )

    def scrub(self, result: RerankResult, redactor: Redactor) -> RerankResult:
        raw = result.dumps()
        masked = redactor.scrub_body(raw)
        # A new result only when something was masked: a coalesced answer is shared by several calls.
        return result if masked is raw else RerankResult.loads(masked, result.usage)

    def answer_json(self, result: RerankResult) -> tuple[int, Any]:
        return 200, result.answer()

    def dead_letter(self, request: RerankRequest) -> tuple[str, dict[str, Any]]:
        return request.model, {"body": request.model_dump(mode="json", exclude_none=True)}

    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> RerankRequest:
        try:
            return RerankRequest.model_validate(payload.get("body") or {})
        except ValidationError as exc:
            raise ValidationFailed(f"the stored request is no longer valid: {exc}") from None


RERANK = RerankCapability()
