"""Reading translated streams as the official OpenAI SDK does."""

from __future__ import annotations

from typing import Any

from openai.lib.streaming.chat import ChatCompletionStreamState, ParsedChatCompletionSnapshot
from openai.types.chat import ChatCompletionChunk


def accumulate(chunks: list[dict[str, Any]]) -> ParsedChatCompletionSnapshot:
    """The chunks folded into one completion by the OpenAI SDK's own stream accumulator."""
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    # The snapshot, not get_final_completion(): that one raises on length and content_filter finishes.
    return state.current_completion_snapshot
