"""Text-to-speech: OpenAI's ``audio/speech`` request in, any provider's speech wire out, audio streamed.

One attempt sends the wire's request and hands the answer on once its first audio bytes arrived
(``routing.streams.first_bytes``): a failure until then fails over like any other, a break after it
ends the caller's body early and the call is recorded as failed. A vendor that answers the audio
base64 in JSON (Google) is read whole and handed on as one piece. Audio is bytes throughout: the
secret scrubber leaves it untouched (``scrub``, ``stream_filter``), while error answers, which are
text, are masked as always.

Metered in characters (the vendor's count when its answer says it, else the input's length), priced
per provider and model like every unit. Answers are cached only when the caller asks (``x-cache-ttl``,
``x-cache-key``), kept piece by piece like any stream and bounded by the cache's ``max_entry_bytes``
(an answer larger than that is not kept): audio is large and a voice's rendering may change. A dead
letter keeps the request and replays it whole.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar, cast
from urllib.parse import quote

from pydantic import ValidationError

from api_connector.capabilities.base import CapabilitySpec, endpoint_of, failure
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Inbound, Outbound
from api_connector.core.speech import CONTENT_TYPES, SpeechAudio, SpeechRequest
from api_connector.core.usage import Usage
from api_connector.errors import UnknownModel, UnknownProvider, UpstreamProtocolError, ValidationFailed
from api_connector.observability.payloads import PayloadBody
from api_connector.routing.catalog import Catalog, Route, Target
from api_connector.routing.exchange import Exchange
from api_connector.routing.streams import AnswerStream, ReplayStream, first_bytes
from api_connector.wire.speech import SpeechWire


def speech_route(
    catalog: Catalog, project_id: str, model: str, capability: Capability = Capability.SPEECH
) -> Route:
    """A route name, ``<instance>/<model>``, a model an instance advertises, or an instance's name alone
    (its ``capability`` endpoint's default model, or the instance itself when the vendor needs none).
    Speech in both directions addresses models so (synthesis, transcription, translation)."""
    try:
        return catalog.resolve(project_id, model)
    except UnknownModel as unknown:
        if "/" in model:
            raise
        try:
            instance = catalog.instance(project_id, model)
        except UnknownProvider:
            raise unknown from None
    endpoint = instance.spec.endpoints.get(capability)
    default = endpoint.default_model if endpoint is not None else None
    return catalog.resolve(project_id, f"{model}/{default}") if default else catalog.single(instance)


class SpeechCapability(CapabilitySpec[SpeechRequest, SpeechAudio]):
    capability: ClassVar[Capability] = Capability.SPEECH
    kind: ClassVar[str] = "speech"

    def route(self, catalog: Catalog, project_id: str, request: SpeechRequest) -> Route:
        return speech_route(catalog, project_id, request.model)

    def streamed(self, request: SpeechRequest) -> bool:
        return not request.whole

    def usage(self, result: SpeechAudio) -> Usage:
        return result.usage

    def cache_material(self, request: SpeechRequest) -> Any:
        # A whole answer and a stream are kept differently: never one for the other.
        return [request.wire_dict(), "whole" if request.whole else "stream"]

    def dump_result(self, result: SpeechAudio) -> bytes:
        return result.content_type.encode() + b"\n" + result.audio

    def load_result(self, raw: bytes, usage: Usage) -> SpeechAudio:
        content_type, _, audio = raw.partition(b"\n")
        return SpeechAudio(audio, content_type.decode(), usage)

    async def fetch(self, request: SpeechRequest, exchange: Exchange) -> SpeechAudio:
        stream = await self.open(request, exchange)
        pieces = [piece async for batch in stream.batches() for piece in batch]
        return SpeechAudio(b"".join(pieces), CONTENT_TYPES[request.response_format], stream.usage)

    async def open(self, request: SpeechRequest, exchange: Exchange) -> AnswerStream:
        target = exchange.target
        endpoint = endpoint_of(target, Capability.SPEECH)
        wire = cast(SpeechWire, endpoint.wire)  # a speech endpoint declares a speech wire
        synthesis = wire.encode_request(request, target.model)  # ValidationFailed: passed over
        path = endpoint.path.replace("{model}", target.model)
        if "{voice}" in path:
            path = path.replace("{voice}", quote(request.voice_id, safe=""))
        query = {**endpoint.query, **synthesis.query}
        headers = {"content-type": synthesis.content_type, **synthesis.headers}
        upstream = await exchange.open(Outbound(path, synthesis.body, headers, query=query or None))
        try:
            if not 200 <= upstream.status < 300:
                body = await upstream.read_all()
                raise failure(Inbound(upstream.status, upstream.headers, body), wire.decode_error, target)
            usage = Usage(characters=wire.billed_characters(upstream.headers) or len(request.input))
            if not wire.whole_body:
                return await first_bytes(target, upstream, usage)
            audio = _unwrapped(wire, await upstream.read_all(), target)
            upstream.close()
            return ReplayStream(target, [audio], usage)
        except BaseException:
            upstream.close()
            raise

    # Audio is never text: ``scrub`` and ``stream_filter`` keep the base class's "untouched".

    def audit_answer(self, result: SpeechAudio) -> PayloadBody:
        return PayloadBody(result.content_type, size=len(result.audio), kept=False)  # audio is never kept

    def answer_json(self, result: SpeechAudio) -> tuple[int, Any]:
        audio = base64.b64encode(result.audio).decode("ascii")
        return 200, {"content_type": result.content_type, "bytes": len(result.audio), "audio": audio}

    def dead_letter(self, request: SpeechRequest) -> tuple[str, dict[str, Any]]:
        return request.model, {"body": request.wire_dict()}

    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> SpeechRequest:
        try:
            return SpeechRequest.model_validate(payload.get("body") or {}).as_whole()
        except ValidationError as exc:
            raise ValidationFailed(f"the stored request is no longer valid: {exc}") from None


def _unwrapped(wire: SpeechWire, body: bytes, target: Target) -> bytes:
    """The audio inside a vendor's JSON answer; none is a protocol error (another target may serve)."""
    try:
        audio = wire.decode_audio(body)
    except ValueError:  # pydantic's ValidationError included
        audio = b""
    if not audio:
        raise UpstreamProtocolError("upstream answered without audio", provider=target.instance.name)
    return audio


SPEECH = SpeechCapability()
