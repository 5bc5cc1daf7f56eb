"""The fast reader of OpenAI-shaped float answers: what it reads (each array as written), and every answer
it must leave to the whole reader (None), which then reads it right or refuses it."""

from __future__ import annotations

import orjson
import pytest

from api_connector.core.embeddings import EmbeddingsRequest, pack, render
from api_connector.wire.openai_embeddings import COMPATIBLE_EMBEDDINGS
from api_connector.wire.openai_float_answer import read_float_answer
from tests.embeddings_data import VERCEL


def _answer(*entries: bytes, tail: bytes = b',"model":"m-1","usage":{"prompt_tokens":7,"total_tokens":7}') -> bytes:
    return b'{"object":"list","data":[' + b",".join(entries) + b"]" + tail + b"}"


def _entry(index: int, array: bytes) -> bytes:
    return b'{"object":"embedding","index":%d,"embedding":%b}' % (index, array)


PLAIN = _answer(_entry(0, b"[-0.035233447,0.1]"), _entry(1, b"[2.5e-3,-1,0]"))


def test_each_array_is_kept_as_written_with_its_numbers() -> None:
    read = read_float_answer(PLAIN, 2)
    assert read is not None
    assert [bytes(text) for text in read.texts] == [b"[-0.035233447,0.1]", b"[2.5e-3,-1,0]"]
    assert read.floats == [[-0.035233447, 0.1], [2.5e-3, -1, 0]]
    assert (read.model, read.tokens) == ("m-1", 7)


def test_a_pretty_printed_answer_keeps_its_layout() -> None:
    answer = (VERCEL / "openai-embedding.json").read_bytes()  # indented, arrays on lines of their own
    read = read_float_answer(answer, 2)
    assert read is not None
    assert (
        bytes(read.texts[0])
        == b"[\n        0.0057293195, -0.012727811, 0.020042092, -0.013437585, 0.022833068\n      ]"
    )
    assert read.floats == [entry["embedding"] for entry in orjson.loads(answer)["data"]]
    assert read.tokens == 12


@pytest.mark.parametrize(
    ("tail", "model", "tokens"),
    [
        (b"", "", None),  # neither model nor usage: the tokens are estimated by the caller
        (b',"model":"m","usage":{"total_tokens":5}', "m", 5),  # Voyage says total_tokens only
        (b',"usage":null,"model":"m"', "m", None),
    ],
)
def test_model_and_usage_may_be_left_out(tail: bytes, model: str, tokens: int | None) -> None:
    read = read_float_answer(_answer(_entry(0, b"[1.5]"), tail=tail), 1)
    assert read is not None and (read.model, read.tokens) == (model, tokens)


def test_spacing_around_the_colon_and_an_index_left_out() -> None:
    answer = b'{"data": [{"embedding" : [1.5, 2]}, {"embedding":\n [3]}], "model": "m"}'
    read = read_float_answer(answer, 2)
    assert read is not None and read.floats == [[1.5, 2], [3]]


def test_escapes_other_than_unicode_ones_are_read() -> None:
    read = read_float_answer(_answer(_entry(0, b"[1.5]"), tail=b',"model":"BAAI\\/bge-m3"'), 1)
    assert read is not None and read.model == "BAAI/bge-m3"


def test_the_word_inside_strings_is_not_a_key() -> None:
    answer = _answer(_entry(0, b"[1.0]"), _entry(1, b"[2.0]"), tail=b',"model":"a \\"embedding\\":[9] \\"embedding"')
    read = read_float_answer(answer, 2)
    assert read is not None and read.floats == [[1.0], [2.0]] and read.model == 'a "embedding":[9] "embedding'


REFUSED = {
    # a value in a vector that is no number
    "string": _answer(_entry(0, b'[1.0,"x"]')),
    "true": _answer(_entry(0, b"[1.0,true]")),
    "false": _answer(_entry(0, b"[false]")),
    "null": _answer(_entry(0, b"[null,1.0]")),
    "object": _answer(_entry(0, b"[1.0,{}]")),
    "nested array": _answer(_entry(0, b"[[1.0],2.0]")),
    "not JSON numbers": _answer(_entry(0, b"[1.2.3]")),
    "leading zero": _answer(_entry(0, b"[01.5]")),
    "NaN": _answer(_entry(0, b"[NaN]")),
    # a vector that is no array (a base64 string), or an answer that is not JSON
    "base64": _answer(_entry(0, b'"AAAAAA=="')),
    "broken skeleton": _answer(_entry(0, b"[1.0]"))[:-1],
    # vectors that cannot be matched to the entries
    "one vector short": _answer(_entry(0, b"[1.0]")),
    "one vector more": _answer(_entry(0, b"[1.0]"), _entry(1, b"[2.0]"), _entry(2, b"[3.0]")),
    "another key elsewhere": _answer(
        _entry(0, b"[1.0]"), _entry(1, b"[2.0]"), tail=b',"model":"m","x":{"embedding":[9.0]}'
    ),
    "a key twice": _answer(_entry(0, b"[1.0]"), b'{"index":1,"embedding":[2.0],"embedding":[3.0]}'),
    # an escaped key is unseen by the search: with another key elsewhere it could pose as a vector
    "escaped key": _answer(
        _entry(0, b"[0.5]"), b'{"index":1,"embedd\\u0069ng":[1]}', tail=b',"model":"m","embedding":[9.0]'
    ),
    # order, usage and model that the whole reader judges
    "out of order": _answer(_entry(1, b"[2.0]"), _entry(0, b"[1.0]")),
    "index as a flag": _answer(_entry(0, b"[1.0]"), b'{"index":true,"embedding":[2.0]}'),
    "usage not an object": _answer(_entry(0, b"[1.0]"), tail=b',"usage":5'),
    "usage not a count": _answer(_entry(0, b"[1.0]"), tail=b',"usage":{"prompt_tokens":"5"}'),
    "model not a text": _answer(_entry(0, b"[1.0]"), tail=b',"model":null'),
    "data not a list": b'{"data":{"embedding":[1.0]}}',
    "cut short in a key": b'{"data":[{"embedding"',
    "cut short in a vector": b'{"data":[{"embedding":[1.0,',
    "no closing quote": b'{"data":[{"embedding":[1.0]}],"model":"m}',
    "not an object": b'[{"embedding":[1.0]}]',
}
COUNTS = {"one vector short": 2, "one vector more": 2, "another key elsewhere": 2, "a key twice": 2, "escaped key": 2}
COUNTS |= {"out of order": 2, "index as a flag": 2}


@pytest.mark.parametrize("case", REFUSED)
def test_what_it_cannot_prove_is_left_to_the_whole_reader(case: str) -> None:
    assert read_float_answer(REFUSED[case], COUNTS.get(case, 1)) is None


@pytest.mark.parametrize(
    ("case", "vectors"),
    [
        ("out of order", [[1.0], [2.0]]),  # sorted by index
        ("another key elsewhere", [[1.0], [2.0]]),
        ("a key twice", [[1.0], [3.0]]),  # as any JSON reader: the last one
        ("true", [[1.0, 1.0]]),  # pydantic reads a flag as a number, as before
        ("escaped key", [[0.5], [1.0]]),  # the entry's own vector, not the one elsewhere
    ],
)
def test_the_whole_reader_reads_what_the_fast_one_left(case: str, vectors: list[list[float]]) -> None:
    request = EmbeddingsRequest(model="m", input=["x"] * len(vectors))
    result = COMPATIBLE_EMBEDDINGS.decode_response(REFUSED[case], request)
    assert result.texts is None and result.vectors == [pack(values) for values in vectors]
    assert [entry["embedding"] for entry in orjson.loads(render(result, "float"))["data"]] == vectors


@pytest.mark.parametrize(
    "case",
    [
        "string",
        "null",
        "object",
        "nested array",
        "not JSON numbers",
        "leading zero",
        "one vector short",
        "broken skeleton",
        "cut short in a vector",
        "no closing quote",
        "not an object",
    ],
)
def test_malformed_answers_are_still_refused(case: str) -> None:
    request = EmbeddingsRequest(model="m", input=["x"] * COUNTS.get(case, 1))
    with pytest.raises(ValueError):
        COMPATIBLE_EMBEDDINGS.decode_response(REFUSED[case], request)
