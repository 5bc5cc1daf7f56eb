"""The embeddings capability through the running gateway: batching, the per-item cache, failover, a
redirect, usage rows and dead letters; and its batching helpers on their own."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.capabilities.embeddings_upstream import EmbeddingsUpstream, embeddings_upstream, expected_vector, tokens_of
from tests.gateway import RunningGateway, run_gateway

from api_connector.capabilities.embeddings import batches, in_order
from api_connector.core.embeddings import EmbeddingsResult, pack, render, unpack

KEY_ENV = "EMBEDDINGS_TEST_KEY"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-embeddings-test-0123456789")


@pytest.fixture
def upstream() -> Iterator[EmbeddingsUpstream]:
    with embeddings_upstream() as running:
        yield running


def provider(upstream: EmbeddingsUpstream, kind: str = "openai") -> dict[str, Any]:
    return {"type": kind, "base_url": upstream.base_url, "credential": f"env:{KEY_ENV}"}


def client(gateway: RunningGateway, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=key or gateway.admin_key, max_retries=0)


def admin(gateway: RunningGateway, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, gateway.base_url + path, headers=gateway.headers(), timeout=30, **kw)


def usage_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = admin(gateway, "GET", "/admin/usage").json()["data"]
        found = [row for row in rows if row["request_id"] == request_id]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no usage row for {request_id}")


def vectors(answer: Any) -> list[list[float]]:
    assert [entry.index for entry in answer.data] == list(range(len(answer.data)))
    return [list(entry.embedding) for entry in answer.data]


# -- batching ------------------------------------------------------------------------------------------


def test_a_request_over_the_batch_limit_is_split_sent_together_and_merged_in_order(tmp_path: Path) -> None:
    texts = [f"input number {i}" for i in range(5000)]
    with (
        embeddings_upstream(delay=0.2) as upstream,
        run_gateway(tmp_path, {"providers": {"oa": provider(upstream)}}) as gateway,
    ):
        raw = client(gateway).embeddings.with_raw_response.create(
            model="oa/text-embedding-3-small", input=texts, encoding_format="float"
        )
        answer = raw.parse()
        # OpenAI's limit is 2048 inputs a call: three calls, in flight together, in input order.
        assert [len(sent) for sent in upstream.inputs] == [2048, 2048, 904]
        assert sorted(upstream.inputs, key=lambda sent: texts.index(sent[0])) == [
            texts[:2048],
            texts[2048:4096],
            texts[4096:],
        ]
        assert upstream.most_in_flight == 3
        assert all(body["encoding_format"] == "base64" for body in upstream.received)
        assert vectors(answer) == [expected_vector(text) for text in texts]
        assert answer.usage.prompt_tokens == answer.usage.total_tokens == tokens_of(texts)
        row = usage_row(gateway, raw.headers["x-request-id"])
        assert (row["capability"], row["prompt_tokens"], row["completion_tokens"]) == ("embeddings", 15000, 0)


def test_batches_keep_to_both_bounds() -> None:
    items: list[str | list[int]] = ["a" * 30, "b" * 30, "c" * 30, [1] * 25, "d"]
    assert batches(items, None, None) == [range(5)]
    assert batches(items, 2, None) == [range(0, 2), range(2, 4), range(4, 5)]
    # 30 characters count as 10 tokens when splitting (three a token, cautiously); token arrays exactly.
    assert batches(items, None, 20) == [range(0, 2), range(2, 3), range(3, 4), range(4, 5)]
    assert batches(["x" * 300, "y"], None, 20) == [range(0, 1), range(1, 2)]  # an oversized item goes alone


async def test_parts_run_a_few_at_a_time_and_a_failure_cancels_the_rest() -> None:
    running = most = 0
    cancelled: list[int] = []

    def call(n: int, fail: bool = False) -> Any:
        async def one() -> EmbeddingsResult:
            nonlocal running, most
            running += 1
            most = max(most, running)
            try:
                await asyncio.sleep(0.01 if not fail else 0.005)
                if fail:
                    raise RuntimeError("batch failed")
                await asyncio.sleep(1)
                return EmbeddingsResult([bytes([n])], "m")
            except asyncio.CancelledError:
                cancelled.append(n)
                raise
            finally:
                running -= 1

        return one

    done = await in_order([_quick(n) for n in range(10)], 4)
    assert [result.vectors[0][0] for result in done] == list(range(10))
    with pytest.raises(RuntimeError):
        await in_order([call(0), call(1, fail=True), call(2), call(3), call(4)], 4)
    assert most == 4 and {0, 2, 3} <= set(cancelled) and running == 0  # none left running


def _quick(n: int) -> Any:
    async def one() -> EmbeddingsResult:
        await asyncio.sleep(0.001 * (10 - n))  # later calls finish first: the order is still the calls'
        return EmbeddingsResult([bytes([n])], "m")

    return one


# -- the per-item cache ---------------------------------------------------------------------------------


def cached_config(upstream: EmbeddingsUpstream) -> dict[str, Any]:
    return {"providers": {"oa": provider(upstream)}, "cache": {"default_ttl": 300}}


def test_only_the_items_the_cache_lacks_go_upstream_and_the_answer_keeps_its_order(
    tmp_path: Path, upstream: EmbeddingsUpstream
) -> None:
    model = "oa/text-embedding-3-small"
    seen = [f"document {i} about topic {i % 7}" for i in range(90)]
    new = [f"fresh text {i}" for i in range(10)]
    hundred = seen + new
    random.Random(7).shuffle(hundred)
    with run_gateway(tmp_path, cached_config(upstream)) as gateway:
        sdk = client(gateway)
        sdk.embeddings.create(model=model, input=seen, encoding_format="float")
        assert upstream.inputs == [seen]
        # The encoding is not part of an item's key: floats cached, base64 served from them.
        raw = sdk.embeddings.with_raw_response.create(model=model, input=hundred)
        answer = raw.parse()
        assert upstream.inputs[1] == [text for text in hundred if text in new], "exactly the 10, in order"
        assert len(upstream.received) == 2
        assert vectors(answer) == [expected_vector(text) for text in hundred]
        assert raw.headers["x-cache"] == "partial"
        # Usage counts only what was fetched: the cached 90 cost nothing this time.
        assert answer.usage.prompt_tokens == tokens_of(new)
        partial = usage_row(gateway, raw.headers["x-request-id"])
        assert (partial["prompt_tokens"], partial["cached"]) == (tokens_of(new), False)

        again = sdk.embeddings.with_raw_response.create(model=model, input=hundred, encoding_format="float")
        assert len(upstream.received) == 2 and again.headers["x-cache"] == "hit"
        assert vectors(again.parse()) == [expected_vector(text) for text in hundred]
        assert again.parse().usage.prompt_tokens == 0
        hit = usage_row(gateway, again.headers["x-request-id"])
        assert (hit["prompt_tokens"], hit["cached"], hit["provider"]) == (0, True, "oa")

        # Another project sees none of the first one's entries.
        org = admin(gateway, "POST", "/admin/organizations", json={"name": "acme"}).json()
        project = admin(gateway, "POST", "/admin/projects", json={"organization_id": org["id"], "name": "o"}).json()
        created = admin(
            gateway, "POST", "/admin/keys", json={"name": "o", "scopes": ["inference"], "project_id": project["id"]}
        )
        key = created.json()["key"]
        client(gateway, key).embeddings.create(model=model, input=hundred)
        assert upstream.inputs[2] == hundred


def test_what_changes_a_vector_is_in_its_key(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    with run_gateway(tmp_path, cached_config(upstream)) as gateway:
        sdk = client(gateway)
        sdk.embeddings.create(model="oa/text-embedding-3-small", input=["same text", "same text"])
        assert upstream.inputs == [["same text"]], "a text twice in one request is fetched once"
        sdk.embeddings.create(model="oa/text-embedding-3-small", input="same text", dimensions=4)
        sdk.embeddings.create(model="oa/text-embedding-3-large", input="same text")
        sdk.embeddings.create(model="oa/text-embedding-3-small", input="same text", extra_body={"input_type": "query"})
        sdk.embeddings.create(model="oa/text-embedding-3-small", input="same text", user="someone")  # not in the key
        sdk.embeddings.create(model="oa/text-embedding-3-small", input="same text", extra_headers={"x-cache-ttl": "0"})
        assert len(upstream.received) == 5
        assert [body.get("dimensions") for body in upstream.received] == [None, 4, None, None, None]


def test_a_callers_own_key_caches_the_whole_answer(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    with run_gateway(tmp_path, cached_config(upstream)) as gateway:
        sdk = client(gateway)
        named = {"x-cache-key": "faq:embeddings"}
        first = sdk.embeddings.create(model="oa/text-embedding-3-small", input=["a b", "c"], extra_headers=named)
        raw = sdk.embeddings.with_raw_response.create(
            model="oa/text-embedding-3-small", input="other", extra_headers=named
        )
        assert raw.headers["x-cache"] == "hit" and len(upstream.received) == 1
        again = raw.parse()  # the named answer, whatever this request asked: the caller's key says so
        assert vectors(again) == vectors(first) and again.usage.prompt_tokens == first.usage.prompt_tokens == 3


def test_a_model_an_instance_lists_is_enough(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    with run_gateway(tmp_path, {"providers": {"oa": provider(upstream)}}) as gateway:
        answer = client(gateway).embeddings.create(model="text-embedding-3-large", input="bare model name")
        assert upstream.received[0]["model"] == "text-embedding-3-large"
        assert vectors(answer) == [expected_vector("bare model name")]


def test_a_dead_letter_keeps_the_whole_request_the_cache_narrowed(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    with run_gateway(tmp_path, cached_config(upstream)) as gateway:
        sdk = client(gateway)
        sdk.embeddings.create(model="oa/text-embedding-3-small", input=["kept one", "kept two"])
        upstream.status = 503
        with pytest.raises(openai.APIStatusError) as failed:
            sdk.embeddings.create(model="oa/text-embedding-3-small", input=["kept one", "new one", "kept two"])
        assert upstream.inputs[1:] == [["new one"], ["new one"]]  # tried, retried: only what was lacking
        request_id = failed.value.response.headers["x-request-id"]
        deadline = time.monotonic() + 10
        while not (entries := admin(gateway, "GET", "/admin/dlq").json()["data"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        (entry,) = [e for e in entries if e["request_id"] == request_id]
        payload = admin(gateway, "GET", f"/admin/dlq/{entry['id']}").json()["payload"]
        assert payload["body"]["input"] == ["kept one", "new one", "kept two"]
        upstream.status = 200
        replayed = admin(gateway, "POST", f"/admin/dlq/{entry['id']}/replay").json()
        assert replayed["outcome"] == "success"
        assert [e["embedding"] for e in replayed["data"]["data"]] == [
            expected_vector(text) for text in ("kept one", "new one", "kept two")
        ]
        assert upstream.inputs[-1] == ["new one"]


# -- routing ----------------------------------------------------------------------------------------------


def test_failover_between_two_embedding_providers(tmp_path: Path) -> None:
    with embeddings_upstream(status=503) as down, embeddings_upstream(model="backup-embed") as up:
        config = {
            "providers": {"down": provider(down), "up": provider(up, "openai_compatible")},
            "routes": {
                "embed": {
                    "targets": [
                        {"provider": "down", "model": "text-embedding-3-small", "priority": 0},
                        {"provider": "up", "model": "backup-embed", "priority": 1},
                    ]
                }
            },
        }
        with run_gateway(tmp_path, config) as gateway:
            raw = client(gateway).embeddings.with_raw_response.create(model="embed", input=["fail over"])
            answer = raw.parse()
            assert len(down.received) == 2, "tried and retried, then the next target"
            assert up.received == [{"model": "backup-embed", "input": ["fail over"]}]
            assert answer.model == "backup-embed" and vectors(answer) == [expected_vector("fail over")]
            row = usage_row(gateway, raw.headers["x-request-id"])
            assert (row["provider"], row["model"], row["prompt_tokens"]) == ("up", "backup-embed", 2)


def test_a_redirect_from_upstream_is_a_protocol_error(tmp_path: Path) -> None:
    with (
        embeddings_upstream(redirect="http://169.254.169.254/latest") as upstream,
        run_gateway(tmp_path, {"providers": {"oa": provider(upstream)}}) as gateway,
        pytest.raises(openai.APIStatusError) as failed,
    ):
        client(gateway).embeddings.create(model="oa/text-embedding-3-small", input="x")
    assert failed.value.status_code == 502
    assert failed.value.body["code"] == "protocol_error"  # type: ignore[index]


def test_token_arrays_pass_over_targets_that_take_only_text(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    config = {
        "providers": {"cohere": {"type": "cohere", "base_url": upstream.base_url, "credential": f"env:{KEY_ENV}"}},
    }
    with run_gateway(tmp_path, config) as gateway, pytest.raises(openai.BadRequestError) as refused:
        client(gateway).embeddings.create(model="cohere/embed-v4.0", input=[[1, 2, 3]])
    assert refused.value.body["code"] == "capability_unsupported"  # type: ignore[index]
    assert upstream.received == []


def test_float32_round_trip_of_the_rendered_answer() -> None:
    result = EmbeddingsResult([pack([0.5, -1.25]), pack([3.0, 0.1])], "m")
    assert unpack(result.vectors[1])[0] == 3.0
    assert render(result, "base64").startswith(
        b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":"'
    )
