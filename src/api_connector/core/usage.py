"""What a call used, in the units providers bill by; the same record for every capability.

Chat and embeddings are metered in tokens (input, output, and the part of the input a provider
served from its prompt cache), speech in characters or audio seconds, crawls in pages, data stores in
rows, search-style calls (rerank) in searches, and anything else per request. A capability's
declaration says which of these its answers fill; prices (``governance.cost``) are per unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    CACHED_TOKENS = "cached_tokens"
    CHARACTERS = "characters"
    AUDIO_SECONDS = "audio_seconds"
    PAGES = "pages"
    ROWS = "rows"
    REQUESTS = "requests"
    SEARCHES = "searches"


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # of the input tokens, those read from the provider's prompt cache
    characters: int = 0
    audio_seconds: float = 0.0
    pages: int = 0
    rows: int = 0
    requests: int = 0  # billable requests, for what is priced per call
    searches: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def amount(self, unit: Unit) -> float:
        return float(getattr(self, unit.value))

    def any(self) -> bool:
        """Whether anything billable was used (an empty record is never priced)."""
        return bool(
            self.input_tokens
            or self.output_tokens
            or self.characters
            or self.audio_seconds
            or self.pages
            or self.rows
            or self.requests
            or self.searches
        )

    def as_list(self) -> list[float]:
        """Every unit in ``Unit`` order (a compact form for the cache)."""
        return [getattr(self, unit.value) for unit in Unit]

    @classmethod
    def from_list(cls, values: list[float]) -> Usage:
        """The inverse of ``as_list``; a shorter list (an older entry) leaves the rest at zero."""
        usage = cls()
        for unit, value in zip(Unit, values, strict=False):
            setattr(usage, unit.value, type(getattr(usage, unit.value))(value))
        return usage

    def as_openai(self) -> dict[str, object]:
        """The OpenAI ``usage`` object of a chat completion."""
        body: dict[str, object] = {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            body["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return body
