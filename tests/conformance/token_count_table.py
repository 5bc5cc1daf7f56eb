"""The token-count conformance table: recorded ``count_tokens`` calls and what an Anthropic client
must get back for them through ``POST /v1/messages/count_tokens``.

The recorded requests are Anthropic requests, so each is sent as it was recorded (the model prefixed
with the instance) and the vendor must receive it back, minus the fields the gateway's canonical
request cannot carry (``not_in_our_shape``). Cassettes that also hold the counted ``/v1/messages``
call are replayed for their count only (the Anthropic ingress tests replay both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anthropic

from tests.recorded import RECORDED, Interaction, load_cassette


@dataclass(frozen=True)
class CountFailure:
    error: type[anthropic.APIStatusError]
    status: int
    type: str  # Anthropic's error type
    message: str  # the provider's own


@dataclass(frozen=True)
class TokenCountCase:
    id: str
    provider: str  # a key of REGISTRY
    source: str  # below tests/data/recorded
    outcome: int | CountFailure  # the input tokens the caller gets, or the error it gets
    not_in_our_shape: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return RECORDED / self.source

    def interactions(self, count_path: str) -> list[Interaction]:
        """The recorded count calls (``count_path``: the vendor's count endpoint path)."""
        return [item for item in load_cassette(self.path) if item.request.path == count_path]


TOKEN_COUNT_CASES = (
    TokenCountCase("anthropic-count", "anthropic", "anthropic/test_anthropic_model_usage_limit_not_exceeded.yaml", 19),
    # A top-level cache_control (automatic prompt caching) has no place in the canonical request.
    TokenCountCase("anthropic-count-with-system", "anthropic", "anthropic/test_anthropic_cache_count_tokens.yaml", 1114,
                   not_in_our_shape=("cache_control",)),
    TokenCountCase("anthropic-count-unknown-model", "anthropic", "anthropic/test_anthropic_count_tokens_error.yaml",
                   CountFailure(anthropic.NotFoundError, 404, "not_found_error", "model: claude-does-not-exist")),
)
