"""Error bodies of vendors outside the OpenAI shape, read into ``VendorError``.

Three forms cover the embedding and rerank vendors: ``{"message": ...}`` (Cohere), ``{"detail": ...}``
(Voyage and Jina, whose servers answer a text, or a validation failure as a list of
``{loc, msg}`` problems), and OpenAI's ``{"error": {...}}`` (Together, the sandbox).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.wire.base import VendorError
from api_connector.wire.openai_chat import decode_openai_error


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Problem(_Lenient):
    loc: list[str | int] = []
    msg: str = ""


class _PlainError(_Lenient):
    message: str | None = None
    detail: str | list[_Problem] | None = None


def decode_vendor_error(body: bytes) -> VendorError | None:
    """What the vendor said in any of the three forms; None when the body is none of them."""
    said = decode_openai_error(body)
    if said is not None:
        return said
    try:
        plain = _PlainError.model_validate_json(body)
    except ValidationError:
        return None
    if plain.message:
        return VendorError(plain.message)
    if isinstance(plain.detail, str) and plain.detail:
        return VendorError(plain.detail)
    if isinstance(plain.detail, list) and plain.detail:
        first = plain.detail[0]
        # The location starts with where the field was found ("body"); the field is the rest.
        where = ".".join(str(part) for part in first.loc if part != "body") or None
        return VendorError(f"{where}: {first.msg}" if where else first.msg, param=where)
    return None
