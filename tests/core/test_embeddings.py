"""The embeddings request and result types: input shapes, what decides a vector, the cache's form."""

from __future__ import annotations

import base64

import orjson
import pytest
from pydantic import ValidationError

from api_connector.core.embeddings import (
    MAX_INPUTS,
    EmbeddingsRequest,
    EmbeddingsResult,
    dump,
    estimate_all,
    estimate_tokens,
    load,
    merge,
    pack,
    render,
)
from api_connector.core.usage import Usage


@pytest.mark.parametrize(
    ("given", "items"),
    [
        ("one text", ["one text"]),
        (["a", "b"], ["a", "b"]),
        ([1, 2, 3], [[1, 2, 3]]),
        ([[1, 2], [3]], [[1, 2], [3]]),
    ],
)
def test_every_input_shape_becomes_a_list_of_items(given: object, items: list[object]) -> None:
    assert EmbeddingsRequest.model_validate({"model": "m", "input": given}).items() == items


@pytest.mark.parametrize("bad", ["", [], [""], [[]], [1, "a"], [-1], ["x"] * (MAX_INPUTS + 1), None, 3])
def test_malformed_inputs_are_one_clear_problem(bad: object) -> None:
    with pytest.raises(ValidationError) as refused:
        EmbeddingsRequest.model_validate({"model": "m", "input": bad})
    (problem,) = refused.value.errors()
    assert problem["loc"] == ("input",) and "non-empty text" in problem["msg"]


def test_what_decides_a_vector() -> None:
    base = {"model": "route-a", "input": ["x", "y"], "dimensions": 64, "input_type": "query", "task": "t"}
    request = EmbeddingsRequest.model_validate({**base, "encoding_format": "base64", "user": "u"})
    plain = EmbeddingsRequest.model_validate(base)
    assert request.vector_material() == plain.vector_material() == ["route-a", 64, "query", [("task", "t")]]
    narrowed = request.subset([1])
    assert narrowed.items() == ["y"] and narrowed.extras() == {"task": "t"} and narrowed.dimensions == 64
    assert request.caller_json()["encoding_format"] == "base64"


def test_results_render_merge_and_keep() -> None:
    first = EmbeddingsResult([pack([0.5, -0.25])], "m", Usage(input_tokens=3))
    second = EmbeddingsResult([pack([1.0, 2.0]), pack([3.0])], "m", Usage(input_tokens=4), estimated=True)
    merged = merge([first, second])
    assert merged.vectors == first.vectors + second.vectors and merged.usage.input_tokens == 7 and merged.estimated
    as_floats = orjson.loads(render(merged, "float"))
    assert [e["embedding"] for e in as_floats["data"]] == [[0.5, -0.25], [1.0, 2.0], [3.0]]
    assert [e["index"] for e in as_floats["data"]] == [0, 1, 2]
    assert as_floats["usage"] == {"prompt_tokens": 7, "total_tokens": 7} and as_floats["object"] == "list"
    as_base64 = orjson.loads(render(merged, "base64"))
    assert base64.b64decode(as_base64["data"][1]["embedding"]) == pack([1.0, 2.0])
    kept = load(dump(merged), Usage(input_tokens=7))
    assert (kept.vectors, kept.model, kept.usage, kept.estimated) == (merged.vectors, "m", merged.usage, True)


def test_vectors_kept_as_written_render_untouched_and_pack_on_demand() -> None:
    texts = [b"[-0.035233447,0.5]", b"[1e-3, 2]"]
    result = EmbeddingsResult(None, "m", Usage(input_tokens=2), texts=texts, floats=[[-0.035233447, 0.5], [1e-3, 2]])
    written = render(result, "float")
    assert b'"embedding":[-0.035233447,0.5]' in written and b'"embedding":[1e-3, 2]' in written
    rewritten = EmbeddingsResult(result.vectors, "m", Usage(input_tokens=2))  # packed when first asked for
    assert orjson.loads(written) == {
        **orjson.loads(render(rewritten, "float")),
        "data": [
            {"object": "embedding", "index": 0, "embedding": [-0.035233447, 0.5]},
            {"object": "embedding", "index": 1, "embedding": [1e-3, 2]},
        ],
    }
    assert render(result, "base64") == render(rewritten, "base64")
    other = EmbeddingsResult(None, "m", Usage(input_tokens=1), texts=[b"[3]"], floats=[[3.0]])
    merged = merge([result, other])
    assert merged.texts == [*texts, b"[3]"] and merged.vectors == result.vectors + other.vectors
    assert merge([result, EmbeddingsResult([pack([3.0])], "m")]).texts is None  # written anew from float32


def test_arrays_as_written_are_copied_into_orjsons_layout() -> None:
    answer = b'{"data":[[-0.035233447,0.5],[\n 1e-3, 2\n]]}'
    view = memoryview(answer)
    second = answer.index(b"[\n")
    texts = [view[9 : second - 1], view[second:-2]]  # views of the vendor's answer, as the wire keeps them
    result = EmbeddingsResult(None, 'm"1', Usage(input_tokens=2), texts=texts, floats=[[-0.035233447, 0.5], [1e-3, 2]])
    written = render(result, "float")
    assert written == (
        b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":[-0.035233447,0.5]},'
        b'{"object":"embedding","index":1,"embedding":[\n 1e-3, 2\n]}],"model":"m\\"1",'
        b'"usage":{"prompt_tokens":2,"total_tokens":2}}'
    )
    assert written == orjson.dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [-0.035233447, 0.5]}, "HOLE"],
            "model": 'm"1',
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        }
    ).replace(b'"HOLE"', b'{"object":"embedding","index":1,"embedding":[\n 1e-3, 2\n]}')


@pytest.mark.parametrize("given", ["one", ["a", "abcd", "abcde", "x" * 4001], [1, 2, 3], [[1], [2, 3]]])
def test_a_requests_estimate_is_its_items_estimates_summed(given: object) -> None:
    items = EmbeddingsRequest.model_validate({"model": "m", "input": given}).items()
    assert estimate_all(items) == sum(estimate_tokens(item) for item in items)
