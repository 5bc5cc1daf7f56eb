"""Azure OpenAI's api-version: the declared GA version by default, the instance's own when it gives one."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from tests.gateway import run_gateway
from tests.recorded import RECORDED, load_cassette
from tests.replay_upstream import replay_upstream

CONVERSATION = RECORDED / "crewai" / "azure" / "test_azure_async_conversation.yaml"


@pytest.mark.parametrize(("query", "sent"), [(None, "2024-10-21"), ("2025-01-01-preview", "2025-01-01-preview")])
async def test_the_instance_may_choose_the_api_version(query: str | None, sent: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_KEY", "azure-key-0123456789")
    (interaction,) = load_cassette(CONVERSATION)
    async with replay_upstream([interaction]) as upstream:
        instance = {"type": "azure_openai", "base_url": upstream.base_url, "credential": "env:AZURE_KEY"}
        if query is not None:
            instance["query"] = {"api-version": query}
        with run_gateway(tmp_path, {"providers": {"azure": instance}}) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
                answer = await client.chat.completions.create(
                    model="azure/gpt-4o-mini", messages=interaction.request.body["messages"]
                )
    assert answer.choices[0].message.content == "Your name is Alice."
    (received,) = upstream.received
    assert received.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert dict(received.query) == {"api-version": sent}
    assert received.headers["api-key"] == "azure-key-0123456789"
