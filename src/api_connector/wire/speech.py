"""The contract of text-to-speech wires, and what several of them share.

A speech wire turns the gateway's ``SpeechRequest`` into the vendor's request (body, content type,
query parameters) for one target model, refusing what the vendor cannot do (a format it lacks, a
speed outside its range) with a ``ValidationFailed`` naming the field, so routing passes the target
over and, with no other target, the caller is told why. Audio comes back as the vendor sends it,
byte for byte; a wire whose vendor wraps the audio in JSON (Google's base64 ``audioContent``) says so
(``whole_body``) and unwraps it. Each wire also says how its vendor lists voices (``VoiceCatalog``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from api_connector.core.speech import AudioFormat, SpeechRequest, Voice
from api_connector.errors import ValidationFailed
from api_connector.wire.base import Wire

M = TypeVar("M", bound=BaseModel)
_JSON = "application/json"
# BCP 47 language and region at the start of a voice name: "en-US-Neural2-A", "de-DE-KatjaNeural".
_LOCALE = re.compile(r"^([a-z]{2,3}-[A-Z]{2,3})-")


@dataclass(frozen=True, slots=True)
class Synthesis:
    """One request to a speech vendor, as the wire shapes it (the path is the provider's declaration)."""

    body: bytes
    content_type: str = _JSON
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VoiceCatalog:
    """How a vendor's voices are listed: a fixed list declared as data, or a GET below the base URL
    whose answer ``decode`` reads (ValueError or a pydantic ValidationError when it is not one)."""

    fixed: tuple[Voice, ...] = ()
    path: str | None = None
    decode: Callable[[bytes], list[Voice]] | None = None


class SpeechWire(Wire, Protocol):
    @property
    def whole_body(self) -> bool:
        """The answer is one JSON body holding the audio, not the audio itself."""
        ...

    @property
    def voices(self) -> VoiceCatalog: ...

    def encode_request(self, request: SpeechRequest, upstream_model: str) -> Synthesis:
        """The vendor's request; ValidationFailed (naming the field) for what the vendor cannot do."""
        ...

    def decode_audio(self, body: bytes) -> bytes:
        """The audio inside a ``whole_body`` answer (ValueError when there is none)."""
        ...

    def billed_characters(self, headers: Mapping[str, str]) -> int | None:
        """The characters the vendor says it billed (a response header), None when it does not say."""
        ...


class AudioAnswer:
    """What most speech wires share: the answer is the audio itself, and says nothing of what it billed."""

    __slots__ = ()
    whole_body = False

    def decode_audio(self, body: bytes) -> bytes:
        return body

    def billed_characters(self, headers: Mapping[str, str]) -> int | None:
        return None


def refuse_format(vendor: str, asked: AudioFormat, offered: Mapping[AudioFormat, object]) -> ValidationFailed:
    names = ", ".join(sorted(fmt.value for fmt in offered))
    return ValidationFailed(
        f"response_format: {vendor} cannot produce {asked.value} audio (it offers {names})",
        param="response_format",
    )


def check_speed(vendor: str, request: SpeechRequest, low: float, high: float) -> float | None:
    """The request's speed when one was asked for and ``vendor`` takes it; None when none was asked."""
    if request.speed is None or request.speed == 1.0:
        return None
    if not low <= request.speed <= high:
        raise ValidationFailed(f"speed: {vendor} takes {low:g} to {high:g}, not {request.speed:g}", param="speed")
    return request.speed


def no_speed(vendor: str, request: SpeechRequest) -> None:
    """Refuse a speed other than 1.0 for a vendor that has no such setting (silently ignoring it would
    answer something other than what was asked)."""
    if request.speed is not None and request.speed != 1.0:
        raise ValidationFailed(f"speed: {vendor} has no speed setting (send 1.0 or leave it out)", param="speed")


def locale_of(voice: str, override: str | None, vendor: str) -> str:
    """The language-region code a voice name starts with ("en-US-Neural2-A" -> "en-US"), or the
    caller's ``language_code``; a voice that names none is refused (the vendor needs one)."""
    if override:
        return override
    found = _LOCALE.match(voice)
    if found is None:
        raise ValidationFailed(
            f"voice: {vendor} voices are named like 'en-US-...'; {voice!r} is not one (or give language_code)",
            param="voice",
        )
    return found.group(1)


def typed_extras(model: type[M], request: SpeechRequest) -> M:
    """The request's extra fields a vendor takes, typed; a bad one is refused, naming it."""
    try:
        return model.model_validate(request.extras())
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationFailed(f"{where}: {first['msg']}", param=where) from None
