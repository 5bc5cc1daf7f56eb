"""``POST /v1/rerank`` through the running service: options honoured, routes that fail over between
providers, redirects refused, the cache, usage rows, validation, dead letters and the API document."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.gateway import RunningGateway, run_gateway
from tests.recorded import RECORDED, Interaction, RecordedRequest, RecordedResponse
from tests.replay_upstream import replay_upstream
from tests.routing.test_dead_letters import wait_for_entry

from api_connector.storage.record_writer import UsageRecord

KEY_ENV = "API_CONNECTOR_TEST_RERANK_KEY"
DOCUMENTS = ["a red car", {"text": "apple pie with cream", "id": 7}, {"title": "Pie", "filling": "apple"}, "nothing"]
VOYAGE_ANSWER = (RECORDED / "vercel-ai" / "voyage-reranking.1.json").read_bytes()
COHERE_ANSWER = (RECORDED / "vercel-ai" / "cohere-reranking.1.json").read_bytes()
JSON = {"content-type": "application/json"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    config = {
        "providers": {"down": {"type": "sandbox", "headers": {"x-sandbox-status": "503"}}, "up": {"type": "sandbox"}},
        "routes": {"rr": {"targets": [{"provider": "down", "model": "sandbox-rerank"}]}},
    }
    with run_gateway(tmp_path, config) as running:
        yield running


@pytest.fixture(autouse=True)
def _credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-rerank-test-0123456789")


def rerank(gateway: RunningGateway, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(gateway.v1 + "/rerank", json=body, headers={**gateway.headers(), **headers}, timeout=30)


def sandbox(**fields: Any) -> dict[str, Any]:
    return {"model": "sandbox/sandbox-rerank", "query": "apple pie", "documents": DOCUMENTS, **fields}


def answer_of(uri: str, status: int, body: bytes, headers: dict[str, str] | None = None) -> Interaction:
    return Interaction(RecordedRequest("POST", uri), RecordedResponse(status, body, headers or JSON))


def cohere_only(base_url: str) -> dict[str, Any]:
    return {"providers": {"co": {"type": "cohere", "base_url": base_url, "credential": f"env:{KEY_ENV}"}}}


async def rerank_once(gateway: RunningGateway, body: dict[str, Any]) -> httpx.Response:
    """One call without retries, from the test's own loop (the replay upstream runs on it)."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(gateway.v1 + "/rerank", json=body, headers={**gateway.headers(), "x-retries": "0"})


def test_results_are_sorted_and_carry_no_documents_unless_asked(gateway: RunningGateway) -> None:
    answer = rerank(gateway, sandbox())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "sandbox-rerank" and body["id"].startswith("rerank-sbx")
    # Word overlap with "apple pie": the object's text (2 of 2), the rendered object (2 of 2), then none.
    assert [(r["index"], r["relevance_score"]) for r in body["results"]] == [(1, 1.0), (2, 1.0), (0, 0.0), (3, 0.0)]
    assert all("document" not in result for result in body["results"])
    assert body["usage"]["search_units"] == 0 and body["usage"]["total_tokens"] > 0


def test_top_n_and_return_documents_give_the_documents_as_sent(gateway: RunningGateway) -> None:
    body = rerank(gateway, sandbox(top_n=2, return_documents=True)).json()
    assert body["results"] == [
        {"index": 1, "relevance_score": 1.0, "document": DOCUMENTS[1]},
        {"index": 2, "relevance_score": 1.0, "document": DOCUMENTS[2]},
    ]


def test_rank_fields_choose_what_is_ranked(gateway: RunningGateway) -> None:
    body = rerank(gateway, sandbox(documents=[{"title": "apple", "body": "pie"}, {"title": "pie"}],
                                   rank_fields=["title"])).json()
    assert [(r["index"], r["relevance_score"]) for r in body["results"]] == [(0, 0.5), (1, 0.5)]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "sandbox/sandbox-rerank", "query": "q", "documents": []}, "documents"),
        ({"model": "sandbox/sandbox-rerank", "documents": ["a"]}, "query"),
        ({"model": "sandbox/sandbox-rerank", "query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(gateway: RunningGateway, body: dict[str, Any], param: str) -> None:
    answer = rerank(gateway, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error" and error["param"] == param


def test_a_provider_without_rerank_is_refused(tmp_path: Path) -> None:
    config = {"providers": {"oa": {"type": "openai", "credential": f"env:{KEY_ENV}"}}}
    with run_gateway(tmp_path, config) as gateway:
        answer = rerank(gateway, {"model": "oa/gpt-4o-mini", "query": "q", "documents": ["a"]})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "capability_unsupported"


def test_repeat_is_served_from_the_cache(gateway: RunningGateway) -> None:
    first = rerank(gateway, sandbox(), **{"x-cache-ttl": "60"})
    again = rerank(gateway, sandbox(), **{"x-cache-ttl": "60"})
    assert "x-cache" not in first.headers and again.headers.get("x-cache") == "hit"
    assert again.json() == first.json()
    other = rerank(gateway, sandbox(top_n=1), **{"x-cache-ttl": "60"})
    assert "x-cache" not in other.headers, "another request is another entry"


def test_cached_by_default_when_the_operator_sets_a_ttl(tmp_path: Path) -> None:
    with run_gateway(tmp_path, {"cache": {"default_ttl": 60}}) as gateway:
        rerank(gateway, sandbox())
        assert rerank(gateway, sandbox()).headers.get("x-cache") == "hit"


def usage_rows(gateway: RunningGateway, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = httpx.get(gateway.base_url + "/admin/usage", headers=gateway.headers(), timeout=30).json()["data"]
        if len(rows) >= count:
            return list(rows)
        time.sleep(0.05)
    raise AssertionError("usage rows were not written")


def test_usage_rows_record_the_tokens(gateway: RunningGateway) -> None:
    answer = rerank(gateway, sandbox())
    (row,) = usage_rows(gateway, 1)
    assert row["capability"] == "rerank" and row["provider"] == "sandbox" and row["model"] == "sandbox-rerank"
    assert row["prompt_tokens"] == answer.json()["usage"]["total_tokens"] and row["completion_tokens"] == 0
    assert row["status"] == "success"


async def test_route_fails_over_between_rerank_providers_and_records_searches(tmp_path: Path) -> None:
    interactions = [
        answer_of("https://api.cohere.com/v2/rerank", 503, b'{"message":"the service is overloaded"}'),
        answer_of("https://api.voyageai.com/v1/rerank", 200, VOYAGE_ANSWER),
        answer_of("https://api.cohere.com/v2/rerank", 200, COHERE_ANSWER),
    ]
    async with replay_upstream(interactions) as upstream:
        config = {
            "providers": {
                "co": {"type": "cohere", "base_url": upstream.base_url, "credential": f"env:{KEY_ENV}"},
                "vo": {"type": "voyage", "base_url": upstream.base_url + "/v1", "credential": f"env:{KEY_ENV}"},
            },
            "routes": {"rr": {"targets": [{"provider": "co", "model": "rerank-v3.5"},
                                          {"provider": "vo", "model": "rerank-2.5"}]}},
            "resilience": {"retry": {"max_retries": 0}},
        }
        with run_gateway(tmp_path, config) as gateway:
            records: list[UsageRecord] = []
            writer = gateway.services.writer
            submit = writer.submit

            def keep(record: Any) -> bool:
                if isinstance(record, UsageRecord):
                    records.append(record)
                return submit(record)

            writer.submit = keep  # type: ignore[method-assign]  # see every usage row as it is queued
            body = {"model": "rr", "query": "rainy day", "documents": ["sunny day", "rainy day"]}
            async with httpx.AsyncClient(timeout=30) as client:
                served = await client.post(gateway.v1 + "/rerank", json=body, headers=gateway.headers())
                # The breaker has not opened on one failure: the next call goes to Cohere and is served.
                cohere = await client.post(gateway.v1 + "/rerank", json={**body, "query": "sunny"},
                                           headers=gateway.headers())
                metrics = (await client.get(gateway.base_url + "/metrics")).text
    assert served.status_code == 200, served.text
    assert served.json()["model"] == "rerank-2.5" and served.json()["usage"] == {"search_units": 0, "total_tokens": 12}
    assert cohere.status_code == 200 and cohere.json()["usage"] == {"search_units": 1, "total_tokens": 0}
    assert [r.path for r in upstream.received] == ["/v2/rerank", "/v1/rerank", "/v2/rerank"]
    assert 'api_connector_upstream_failures_total{code="upstream_error",provider="co"}' in metrics
    units = [(r.provider, r.capability, r.prompt_tokens, r.searches) for r in records]
    assert units == [("vo", "rerank", 12, 0), ("co", "rerank", 0, 1)]


async def test_a_redirect_is_a_protocol_error(tmp_path: Path) -> None:
    moved = answer_of("https://api.cohere.com/v2/rerank", 302, b"", {"location": "http://169.254.169.254/latest"})
    async with replay_upstream([moved]) as upstream:
        with run_gateway(tmp_path, cohere_only(upstream.base_url)) as gateway:
            answer = await rerank_once(gateway, {"model": "co/rerank-v3.5", "query": "q", "documents": ["a"]})
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "protocol_error" and answer.json()["error"]["provider"] == "co"
    assert len(upstream.received) == 1, "the redirect is not followed"


async def test_an_answer_that_is_not_a_rerank_answer_is_a_protocol_error(tmp_path: Path) -> None:
    results = orjson.dumps({"results": [{"index": 4, "relevance_score": 1}]})
    async with replay_upstream([answer_of("https://api.cohere.com/v2/rerank", 200, results)]) as upstream:
        with run_gateway(tmp_path, cohere_only(upstream.base_url)) as gateway:
            answer = await rerank_once(gateway, {"model": "co/rerank-v3.5", "query": "q", "documents": ["a"]})
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "protocol_error"
    assert "index 4 does not fit 1 documents" in answer.json()["error"]["message"]


def test_failed_everywhere_is_dead_lettered_and_replayed(gateway: RunningGateway) -> None:
    body = {"model": "rr", "query": "apple", "documents": ["apple", "pear"], "return_documents": True}
    failed = rerank(gateway, body)
    assert failed.status_code == 502
    entry = wait_for_entry(gateway, failed.headers["x-request-id"])
    assert entry["kind"] == "rerank" and entry["target"] == "rr"
    route = {"targets": [{"provider": "up", "model": "sandbox-rerank"}]}
    admin = {"headers": gateway.headers(), "timeout": 30}
    assert httpx.put(gateway.base_url + "/admin/routes/rr", json=route, **admin).status_code == 201
    served = httpx.post(gateway.base_url + f"/admin/dlq/{entry['id']}/replay", **admin).json()
    assert served["outcome"] == "success" and served["status"] == 200
    assert served["data"]["results"][0] == {"index": 0, "relevance_score": 1.0, "document": "apple"}


def test_the_api_document_describes_rerank(gateway: RunningGateway) -> None:
    document = httpx.get(gateway.base_url + "/openapi.json", headers=gateway.headers(), timeout=30).json()
    operation = document["paths"]["/v1/rerank"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"model", "query", "documents"}
    assert schema["additionalProperties"] is False and schema["properties"]["documents"]["minItems"] == 1
