"""Gemini's chat endpoint and models, the same on Google AI Studio (``gemini``) and Vertex AI (``vertex``).

Chat goes to ``/models/{model}:generateContent`` and, streamed, ``:streamGenerateContent?alt=sse``
(server-sent events rather than Google's default JSON array; the query rides in the stream path because
the unary call must not ask for SSE), translated by ``wire.gemini_chat``.
"""

from api_connector.providers.spec import Endpoint
from api_connector.wire.gemini_chat import GeminiChatWire

GENERATE_CONTENT = Endpoint(
    path="/models/{model}:generateContent",
    # Google keeps no end user's id: ``user`` (for the vendor's abuse monitoring) is left out.
    wire=GeminiChatWire(drops=frozenset({"user"})),
    stream_path="/models/{model}:streamGenerateContent?alt=sse",
)
CHAT_MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
)
