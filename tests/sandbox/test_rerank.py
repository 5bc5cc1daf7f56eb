"""The sandbox's rerank answer: word-overlap scores, the Jina shape, deterministic."""

from __future__ import annotations

import orjson

from api_connector.sandbox.engine import SandboxEngine
from api_connector.sandbox.rerank import rerank


def answer(**fields: object) -> dict[str, object]:
    status, body = rerank(orjson.dumps({"model": "sandbox-rerank", "query": "Red apple pie", **fields}))
    assert status == 200
    parsed: dict[str, object] = orjson.loads(body)
    return parsed


def test_scores_are_the_share_of_query_words_found() -> None:
    documents = ["a red car", {"text": "Apple pie, red!"}, "nothing here", {"image": "https://example.com/a.png"}]
    got = answer(documents=documents, return_documents=False)
    assert got["results"] == [
        {"index": 1, "relevance_score": 1.0},
        {"index": 0, "relevance_score": 0.3333},
        {"index": 2, "relevance_score": 0.0},
        {"index": 3, "relevance_score": 0.0},
    ]
    assert got["model"] == "sandbox-rerank" and str(got["id"]).startswith("rerank-sbx")
    assert got["usage"] == {"total_tokens": 4 * 4 + 3 + 4 + 3 + 0}


def test_top_n_documents_and_determinism() -> None:
    first = answer(documents=["pie", "apple"], top_n=1)
    assert first["results"] == [{"index": 0, "relevance_score": 0.3333, "document": {"text": "pie"}}]
    assert answer(documents=["pie", "apple"], top_n=1) == first


async def test_the_engine_answers_rerank_and_refuses_what_is_not_a_request() -> None:
    engine = SandboxEngine()
    good = await engine.handle("POST", "/v1/rerank", {}, b'{"model":"m","query":"a","documents":["a"]}')
    assert good.status == 200 and orjson.loads(good.body)["results"][0]["relevance_score"] == 1.0
    bad = await engine.handle("POST", "/v1/rerank", {}, b'{"model":"m","documents":["a"]}')
    assert bad.status == 400 and orjson.loads(bad.body)["error"]["type"] == "invalid_request_error"
