"""OpenAI's usual float embeddings answer, read with each vector's array kept as the vendor wrote it.

A caller asking for floats is then given those arrays untouched (``EmbeddingsResult.texts``), and
float32 is packed only when something asks for it. This is the fast path of
``wire/openai_embeddings.py``: it accepts only an answer it can prove it read right, and says None for
anything else, which that wire then reads whole (and refuses if it must).

What it proves, and how, parsing each part of the answer once:

- Where the vectors are: every ``"embedding"`` key whose value is an array is found by searching the
  bytes (a key's opening quote is never preceded by a backslash; an occurrence that is lies inside a
  string), and its array ends at the first ``]`` after it.
- That they are the data entries' vectors, in order: the skeleton (the answer with array i replaced by
  ``[i]``, about a kilobyte) is parsed by orjson, and data entry i must hold exactly ``[i]``. An
  original value cannot pass for one: every array under a key written plainly was cut out, and a
  skeleton with a ``\\u`` escape (the only way to write the key's letters otherwise, which the search
  would not see) is refused.
- That each is an array of JSON numbers: orjson parses them all as one array of arrays (one copy), which
  holds no quote, brace or first letter of true, false or null. A nested array would have ended its
  array early and left the whole unbalanced.

orjson builds the numbers it parses (kept as ``floats``): measured, no check of JSON's number syntax
made of Python's bytes operations costs less than that parse, and the floats are what float32 is packed
from when the cache or a base64 answer needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

_KEY = b'"embedding"'
_SPACE_TO_ARRAY = re.compile(rb"[ \t\n\r]*:[ \t\n\r]*\[")  # a key's colon and array, spaced
_BACKSLASH = 0x5C
# In arrays that parse, any of these starts a value that is no number: a string, an object, true, false,
# null.
_NOT_NUMBERS = tuple(b'"{tfn')


@dataclass(frozen=True, slots=True)
class FloatAnswer:
    texts: list[memoryview]  # each vector's array as written (views of the answer: nothing copied)
    floats: list[list[float]]  # the same, parsed
    model: str
    tokens: int | None  # prompt_tokens, else total_tokens; None when usage is left out


def read_float_answer(body: bytes, count: int) -> FloatAnswer | None:
    """``count`` vectors of an OpenAI-shaped float answer, in order (each ``index``, where given, its
    position), with its model and usage; None for any other answer."""
    spans = _arrays(body, count)
    if spans is None:
        return None
    skeleton = _skeleton(body, spans)
    if _BACKSLASH in skeleton and skeleton.find(b"\\u") >= 0:
        return None
    try:
        head = _head(orjson.loads(skeleton), count)
    except orjson.JSONDecodeError:
        return None
    if head is None:
        return None
    view = memoryview(body)
    texts = [view[start:end] for start, end in spans]
    # All arrays as one JSON array: one copy, one parse, one search for each byte.
    parts: list[bytes | memoryview] = [b"["]
    for text in texts:
        parts += (text, b",")
    parts[-1] = b"]"
    arrays = b"".join(parts)
    if any(byte in arrays for byte in _NOT_NUMBERS):
        return None
    try:
        floats = orjson.loads(arrays)
    except orjson.JSONDecodeError:
        return None
    return FloatAnswer(texts, floats, *head)


def _arrays(body: bytes, count: int) -> list[tuple[int, int]] | None:
    """Where the array of each ``"embedding"`` key is (start, end), in order; None unless exactly ``count``.

    Every occurrence of the word in quotes is looked at (a key written with space before its colon
    too: the skeleton's proof needs every array under the key cut out), and the search jumps from one
    array's end to the next, so the numbers are never searched."""
    spans: list[tuple[int, int]] = []
    find = body.find
    at = find(_KEY)
    while at >= 0:
        after = at + len(_KEY)
        if body[after : after + 2] == b":[":
            start = after + 1
        else:
            spaced = _SPACE_TO_ARRAY.match(body, after)
            if spaced is None:  # the word as a value ("object":"embedding"), or a key whose value is no array
                at = find(_KEY, after)
                continue
            start = spaced.end() - 1
        if at and body[at - 1] == _BACKSLASH:  # an escaped quote: inside a string
            at = find(_KEY, after)
            continue
        end = find(b"]", start) + 1
        if end == 0 or len(spans) == count:
            return None
        spans.append((start, end))
        at = find(_KEY, end)
    return spans if len(spans) == count else None


def _skeleton(body: bytes, spans: list[tuple[int, int]]) -> bytes:
    """The answer with the array at ``spans[i]`` replaced by ``[i]``."""
    parts: list[bytes] = []
    at = 0
    for position, (start, end) in enumerate(spans):
        parts += (body[at:start], b"[%d]" % position)
        at = end
    parts.append(body[at:])
    return b"".join(parts)


def _head(parsed: Any, count: int) -> tuple[str, int | None] | None:
    """(model, input tokens) of the parsed skeleton whose ``count`` data entries hold their arrays' places."""
    if type(parsed) is not dict:
        return None
    data, model, usage = parsed.get("data"), parsed.get("model", ""), parsed.get("usage")
    if type(data) is not list or len(data) != count or type(model) is not str:
        return None
    for position, entry in enumerate(data):
        if type(entry) is not dict or entry.get("embedding") != [position]:
            return None
        index = entry.get("index")
        if index is not None and (type(index) is not int or index != position):
            return None
    if usage is None:
        return model, None
    if type(usage) is not dict:
        return None
    prompt, total = usage.get("prompt_tokens"), usage.get("total_tokens")
    if not all(value is None or type(value) is int for value in (prompt, total)):
        return None
    return model, prompt if prompt is not None else total
