"""The caller's request options an Anthropic message carries, beyond the conversation and sampling.

- ``user`` and ``metadata.user_id`` -> ``metadata.user_id``, the only metadata Anthropic keeps (any
  other metadata key is refused: it would be lost).
- ``service_tier``: OpenAI's ``auto`` is Anthropic's ``auto`` (priority capacity when the organisation
  has it), its ``default`` (standard processing) Anthropic's ``standard_only``; other tiers are refused.
- ``reasoning_effort`` -> ``output_config.effort``, Anthropic's documented effort levels (``low``,
  ``medium``, ``high``, ``xhigh``); ``minimal`` and ``none`` have no Anthropic level and are refused.
- ``response_format`` ``json_schema`` -> ``output_config.format`` (Anthropic's structured outputs: the
  answer is a text block holding the JSON); ``json_object`` (JSON without a schema) is refused.
- Anthropic's own fields sent in ``extra_body`` (``top_k``, ``thinking``, ``output_config``) as given;
  the mapped ``output_config`` entries are merged into the caller's.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.wire.anthropic_types import CallerExtras
from api_connector.wire.carried import CarriedFields, vendor_fields

# Anthropic's own request fields a caller may send in ``extra_body``: forwarded as they are.
VENDOR_FIELDS = ("top_k", "thinking", "output_config")

FIELDS = CarriedFields(
    vendor="Anthropic",
    carried=frozenset(
        {"user", "metadata", "parallel_tool_calls", "service_tier", "reasoning_effort", "response_format",
         *VENDOR_FIELDS}
    ),
    hints={
        "n": "Anthropic answers one choice per request: n must be 1",
        "seed": "Anthropic's sampling cannot be seeded",
        "logprobs": "Anthropic does not return log probabilities",
        "top_logprobs": "Anthropic does not return log probabilities",
        "frequency_penalty": "Anthropic has no penalties",
        "presence_penalty": "Anthropic has no penalties",
    },
)

_TIERS = {"auto": "auto", "default": "standard_only"}
_EFFORTS = frozenset({"low", "medium", "high", "xhigh"})


def _options(request: ChatRequest) -> CallerExtras:
    try:
        return CallerExtras.model_validate(request.model_extra or {})
    except ValidationError as exc:
        where = str(exc.errors(include_url=False)[0]["loc"][0])
        raise FIELDS.refusal(where, "it is malformed") from None


def _metadata(request: ChatRequest, options: CallerExtras) -> dict[str, Any] | None:
    user = request.user
    for key, value in (options.metadata or {}).items():
        if key != "user_id":
            raise FIELDS.refusal(f"metadata.{key}", "Anthropic's metadata holds user_id alone")
        user = value
    return {"user_id": user} if user else None


def _output_config(request: ChatRequest, options: CallerExtras) -> dict[str, Any]:
    config: dict[str, Any] = dict(options.output_config or {})
    effort = options.reasoning_effort
    if effort is not None:
        if effort not in _EFFORTS:
            raise FIELDS.refusal("reasoning_effort", f"Anthropic has no effort level {effort!r}")
        config["effort"] = effort
    form = options.response_format
    if form is not None and form.type != "text":
        if form.type != "json_schema":
            why = f"Anthropic's structured outputs need a json_schema, not {form.type!r}"
            raise FIELDS.refusal("response_format", why)
        if form.json_schema is None or form.json_schema.schema_ is None:
            raise FIELDS.refusal("response_format.json_schema.schema", "a json_schema needs its schema")
        config["format"] = {"type": "json_schema", "schema": form.json_schema.schema_}
    return config


def add_options(request: ChatRequest, body: dict[str, Any], fields: CarriedFields = FIELDS) -> None:
    """Write the caller's options into an Anthropic request ``body``, after checking that ``fields``
    (the table, with the provider's declared drops) allows every field of the request."""
    fields.check(request)
    options = _options(request)
    metadata = _metadata(request, options)
    if metadata is not None:
        body["metadata"] = metadata
    if options.service_tier is not None:
        tier = _TIERS.get(options.service_tier)
        if tier is None:
            raise FIELDS.refusal("service_tier", f"Anthropic has no {options.service_tier!r} tier")
        body["service_tier"] = tier
    body.update(vendor_fields(request, VENDOR_FIELDS))
    config = _output_config(request, options)
    if config:
        body["output_config"] = config
