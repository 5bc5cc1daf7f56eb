"""Gemini request bodies in one canonical form, so that the gateway's compare with recorded ones.

Google's JSON parsers take a field in lowerCamelCase or in the proto's snake_case, and the recording
clients wrote both (google-genai writes ``function_call``, ``file_uri``, ``parameters_json_schema``):
field names are put in lowerCamelCase, without entering what is the caller's own (function arguments
and results, schemas). Function call ids are each client's own (pydantic-ai and llm mint theirs, the
gateway keeps Google's or mints one): they are left out here, and the wire's unit tests check that a
result carries the id of its call. A thought signature is bytes, written in base64 or its URL-safe
form: compared as bytes. Null fields and an empty ``generationConfig`` say nothing and are left out.
Also the edits steps apply to recorded requests, each saying what the recording's client did its own way.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

# Values that are the caller's data, not Google's fields: never renamed inside.
_OPAQUE = frozenset({"args", "response", "parameters", "parametersJsonSchema", "responseJsonSchema", "responseSchema"})
_CALLS = frozenset({"functionCall", "functionResponse"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _signature(value: str) -> str:
    raw = base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4))
    return base64.b64encode(raw).decode()


def _canonical(value: Any, parent: str = "") -> Any:
    if isinstance(value, list):
        return [_canonical(item, parent) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for raw_key, item in value.items():
        key = _camel(raw_key)
        if item is None or (parent in _CALLS and key == "id"):
            continue
        if key == "thoughtSignature":
            out[key] = _signature(item)
        elif key in _OPAQUE:
            out[key] = item
        else:
            out[key] = _canonical(item, key)
    return out


def canonical_gemini(body: dict[str, Any]) -> dict[str, Any]:
    canonical: dict[str, Any] = _canonical(body)
    if canonical.get("generationConfig") == {}:
        del canonical["generationConfig"]
    return canonical


# -- edits: the recorded request as the gateway writes it ----------------------------------------------


def _parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [part for content in body.get("contents", []) for part in content.get("parts", [])]


def tool_result_as_output(body: dict[str, Any]) -> dict[str, Any]:
    """pydantic-ai wraps a tool's return as ``{"return_value": ...}``; an OpenAI tool message is text,
    which the gateway sends under ``output``, the key Google documents for a function's output."""
    body = copy.deepcopy(body)
    for part in _parts(body):
        response = (part.get("functionResponse") or part.get("function_response") or {}).get("response")
        if isinstance(response, dict) and "return_value" in response:
            response["output"] = response.pop("return_value")
    return body


def openapi_parameters_as_json_schema(body: dict[str, Any]) -> dict[str, Any]:
    """Older clients give a tool's parameters as ``parameters``, Google's OpenAPI subset (types in
    capitals, or JSON Schema's lower case); the gateway sends the caller's JSON Schema unchanged as
    ``parametersJsonSchema``."""
    body = copy.deepcopy(body)
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            if "parameters" in declaration:
                declaration["parametersJsonSchema"] = _lower_types(declaration.pop("parameters"))
    return body


def _lower_types(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: value.lower() if key == "type" and isinstance(value, str) else _lower_types(value)
        for key, value in schema.items()
    }


def without_empty_text(body: dict[str, Any]) -> dict[str, Any]:
    """llm sends back the empty text part a Gemini 3 stream ends with; an OpenAI assistant turn with
    no text has none to send."""
    body = copy.deepcopy(body)
    for content in body.get("contents", []):
        content["parts"] = [part for part in content.get("parts", []) if part != {"text": ""}]
    return body
