"""Which of a caller's chat fields a translating wire carries to its vendor, and the refusal of the rest.

An OpenAI-shaped target receives the caller's request as it was sent: every field reaches the vendor.
A wire that translates into a vendor shape of its own (Anthropic, Gemini, Bedrock, Cohere, Replicate)
writes only what it maps, so a field it does not know would be lost without a word: a caller asking
for ``seed``, ``logprobs`` or a service tier would get an answer made without it. Each such wire
declares a ``CarriedFields`` table and checks the request against it before encoding; a field the
table does not allow is refused with 400 ``unsupported_parameter`` naming it (routing then passes the
target over, as any target that cannot take the request, and answers with the refusal if none could).

A field is allowed when the wire carries it (maps it to the vendor's form, or sends it as the vendor's
own field, ``extra_body``), when its value asks for what the vendor does anyway (``n: 1``,
``logprobs: false``: ``inert``), or when the provider's declaration lists it as dropped (``drops``: data
on the provider's wire instance, for a field its vendor has no room for and that changes nothing the
caller gets back, such as an end user's id kept for abuse monitoring).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api_connector.core.chat import ChatRequest
from api_connector.errors import UnsupportedParameter

# What every translating wire writes in the vendor's form: the conversation, the stream, the sampling
# settings ChatRequest types, and tools.
COMMON = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
    }
)

# Values that ask for what a vendor without the feature does anyway: one choice, no log probabilities,
# parallel tool calls allowed, nothing stored, the vendor's usual processing, no penalties, text out.
INERT: Mapping[str, tuple[object, ...]] = MappingProxyType(
    {
        "n": (1,),
        "logprobs": (False,),
        "top_logprobs": (0,),
        "parallel_tool_calls": (True,),
        "store": (False,),
        "service_tier": ("auto", "default"),
        "presence_penalty": (0, 0.0),
        "frequency_penalty": (0, 0.0),
        "logit_bias": ({},),
        "modalities": (["text"],),
        "response_format": ({"type": "text"},),
        "metadata": ({},),
    }
)


def _same(value: object, allowed: tuple[object, ...]) -> bool:
    # By type too: ``True == 1`` and ``0 == False`` in Python, but ``n: true`` is not ``n: 1``.
    return any(type(value) is type(option) and value == option for option in allowed)


@dataclass(frozen=True, slots=True)
class CarriedFields:
    vendor: str  # as messages name it: "Anthropic"
    carried: frozenset[str]  # top-level fields the wire writes in the vendor's form (beyond COMMON)
    # What to send instead, by field, for fields the vendor has another way to express.
    hints: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    drops: frozenset[str] = frozenset()  # the provider's declaration: left out, not refused

    def dropping(self, names: Iterable[str]) -> CarriedFields:
        """The table of a provider whose declaration drops ``names``."""
        return replace(self, drops=self.drops | frozenset(names))

    def check(self, request: ChatRequest) -> None:
        """Refuse the first field of ``request`` this wire cannot carry (absent and null fields are
        not sent, so never refused)."""
        for name, value in request.wire_dict().items():
            if value is None or name in COMMON or name in self.carried or name in self.drops:
                continue
            if name in INERT and _same(value, INERT[name]):
                continue
            raise self.refusal(name)

    def refusal(self, param: str, why: str = "") -> UnsupportedParameter:
        """The refusal of ``param`` (a field, or a value of it when ``why`` says which)."""
        hint = self.hints.get(param.partition(".")[0], "")
        message = f"{self.vendor} cannot carry {param!r}{f': {why}' if why else ''}"
        if hint:
            message += f"; {hint}"
        return UnsupportedParameter(message, param=param)


def vendor_fields(request: ChatRequest, names: Iterable[str]) -> dict[str, Any]:
    """The vendor's own fields the caller sent (``extra_body``), as sent, for the vendor's body."""
    raw = request.model_extra or {}
    return {name: raw[name] for name in names if raw.get(name) is not None}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JsonSchemaFormat(_Lenient):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Lenient):
    """OpenAI's ``response_format``, as the wires that translate it read it."""

    type: str
    json_schema: JsonSchemaFormat | None = None
