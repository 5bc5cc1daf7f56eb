"""Vendors' answers to "which models do you serve", read into plain model ids (pure, typed at the edge).

OpenAI and the many vendors that copy it (Anthropic too) answer ``{"data": [{"id": ...}]}``; Google
answers ``{"models": [{"name": "models/<id>"}]}``; Cohere and Ollama ``{"models": [{"name": ...}]}``.
An answer of another shape is a ValueError (the listing is then not trusted, never half read).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Id(_Lenient):
    id: str


class _DataList(_Lenient):
    data: list[_Id]


class _Named(_Lenient):
    name: str


class _ModelsList(_Lenient):
    models: list[_Named]


def openai_models(body: bytes) -> list[str]:
    return [item.id for item in _DataList.model_validate_json(body).data]


def google_models(body: bytes) -> list[str]:
    return [item.name.removeprefix("models/") for item in _ModelsList.model_validate_json(body).models]


def named_models(body: bytes) -> list[str]:
    return [item.name for item in _ModelsList.model_validate_json(body).models]
