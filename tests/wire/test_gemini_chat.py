"""The Gemini wire (AI Studio and Vertex AI) both ways: OpenAI requests in, the recorded Gemini requests
out; recorded Gemini answers and streams in, OpenAI completions and chunks out; Google's errors read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import (
    ContentFiltered,
    QuotaExhausted,
    RateLimited,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamPermissionDenied,
    ValidationFailed,
)
from api_connector.routing.classify import classify_status, classify_vendor_error
from api_connector.wire.gemini_chat import GEMINI_CHAT, GeminiChatStream
from api_connector.wire.gemini_request import THOUGHT_MARK
from api_connector.wire.gemini_types import finish_reason
from api_connector.wire.sse import SSEEvent
from tests.conformance.google import canonical_gemini, openapi_parameters_as_json_schema
from tests.recorded import RECORDED, Interaction, json_array_as_sse, load_cassette, sse_events
from tests.wire.openai_chunks import accumulate

GOOGLE = RECORDED / "google"
VERCEL = RECORDED / "vercel-ai"


def request(messages: list[dict[str, Any]], **fields: Any) -> ChatRequest:
    return ChatRequest.from_json_obj({"model": "route", "messages": messages, **fields})


def encode(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(GEMINI_CHAT.encode_request(request(messages, **fields), "gemini-x"))
    return body


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def calls(path: Path) -> list[Interaction]:
    """The generateContent calls of a cassette, JSON-array streams served as SSE."""
    found = [item for item in load_cassette(path) if "generatecontent" in item.request.uri.lower()]
    return [Interaction(item.request, json_array_as_sse(item.response)) for item in found]


# -- requests ------------------------------------------------------------------------------------------


def test_recorded_requests_without_anything_to_translate_are_sent_byte_for_byte_alike() -> None:
    # crewAI sent these through google-genai: the translation must give the same JSON.
    (sampled,) = calls(GOOGLE / "crewai" / "test_gemini_async_with_parameters.yaml")
    body = encode([user("Tell me a short fact")], temperature=0.7, top_p=0.9, max_tokens=1000)
    assert body == sampled.request.body
    (conversation,) = calls(GOOGLE / "crewai" / "test_gemini_async_conversation.yaml")
    messages = [user("My name is Alice."), {"role": "assistant", "content": "Hello Alice! Nice to meet you."},
                user("What is my name?")]
    assert encode(messages) == conversation.request.body


def test_system_messages_become_the_system_instruction() -> None:
    (recorded,) = calls(GOOGLE / "pydantic-ai" / "test_google_model_vertex_provider.yaml")
    messages = [{"role": "system", "content": "You are a helpful chatbot."}, user("What is the capital of France?")]
    assert encode(messages) == recorded.request.body
    two = encode([{"role": "developer", "content": "a"}, {"role": "system", "content": "b"}, user("c")])
    assert two["systemInstruction"] == {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}


def test_tools_choice_and_results_match_a_recorded_tool_conversation() -> None:
    second = calls(GOOGLE / "pydantic-ai" / "test_google_tool_output.yaml")[1].request.body
    # pydantic-ai wrote the parameters in Google's OpenAPI subset; OpenAI tools carry them as JSON Schema.
    expected = openapi_parameters_as_json_schema(second)
    tools = [
        {"type": "function", "function": {"name": d["name"], "description": d["description"],
                                          "parameters": d["parametersJsonSchema"]}}
        for d in expected["tools"][0]["functionDeclarations"]
    ]
    call_id = second["contents"][1]["parts"][0]["functionCall"]["id"]
    messages = [
        user(second["contents"][0]["parts"][0]["text"]),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_user_country", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": call_id, "content": "Mexico"},
    ]
    body = encode(messages, tools=tools, tool_choice="required")
    # pydantic-ai lists every tool as allowed (what ANY means anyway) and wraps results its own way.
    del expected["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"]
    expected["contents"][2]["parts"][0]["functionResponse"]["response"] = {"output": "Mexico"}
    assert body == expected
    # The result carries the id of the call it answers.
    assert body["contents"][2]["parts"][0]["functionResponse"]["id"] == call_id


def test_a_thought_signature_in_the_tool_call_id_goes_back_with_the_call() -> None:
    sent = calls(GOOGLE / "llm-gemini" / "test_tools.yaml")[1].request.body
    model_turn = sent["contents"][1]["parts"][0]
    signature, llm_id = model_turn["thoughtSignature"], model_turn["function_call"]["id"]
    messages = [
        user("Two names for a pet pelican"),
        {"role": "assistant", "tool_calls": [{"id": f"{llm_id}{THOUGHT_MARK}{signature}", "type": "function",
                                              "function": {"name": "pelican_name_generator", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": f"{llm_id}{THOUGHT_MARK}{signature}", "content": "Charles"},
    ]
    tools = [{"type": "function", "function": {"name": "pelican_name_generator",
                                               "parameters": {"properties": {}, "type": "object"}}}]
    body = encode(messages, tools=tools)
    recorded = {key: value for key, value in sent.items() if key not in ("safetySettings", "generationConfig")}
    recorded["tools"][0]["functionDeclarations"][0] = {
        "name": "pelican_name_generator", "parametersJsonSchema": {"properties": {}, "type": "object"},
    }
    assert canonical_gemini(body) == canonical_gemini(recorded)
    assert body["contents"][1]["parts"][0]["functionCall"]["id"] == llm_id  # the id without the signature
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == signature
    assert body["contents"][2]["parts"][0]["functionResponse"]["id"] == llm_id


def test_googles_own_openai_form_of_the_signature_is_read_too() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"},
            "extra_content": {"google": {"thought_signature": "c2lnbmF0dXJl"}}}
    body = encode([user("q"), {"role": "assistant", "tool_calls": [call]}])
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "f", "args": {}, "id": "c1"}, "thoughtSignature": "c2lnbmF0dXJl"},
    ]


def test_results_of_one_step_share_one_turn_and_json_results_stay_objects() -> None:
    calls_ = [{"id": f"c{i}", "type": "function", "function": {"name": "lookup", "arguments": f'{{"n": {i}}}'}}
              for i in (1, 2)]
    body = encode([
        user("q"), {"role": "assistant", "content": "Looking.", "tool_calls": calls_},
        {"role": "tool", "tool_call_id": "c1", "content": '{"found": true}'},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "nothing"}]},
        user("and?"),
    ])
    assert [turn["role"] for turn in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"][0] == {"text": "Looking."}
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "lookup", "response": {"found": True}, "id": "c1"}},
        {"functionResponse": {"name": "lookup", "response": {"output": "nothing"}, "id": "c2"}},
        {"text": "and?"},
    ]


def test_images_audio_and_files() -> None:
    (recorded,) = calls(GOOGLE / "pydantic-ai" / "test_google_url_input_image_url.yaml")
    text, image = recorded.request.body["contents"][0]["parts"]
    parts = [{"type": "text", "text": text["text"]},
             {"type": "image_url", "image_url": {"url": image["fileData"]["file_uri"]}}]
    assert canonical_gemini(encode([user(parts)])) == canonical_gemini(recorded.request.body)
    body = encode([user([
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/photo.JPG"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
    ])])
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/photo.JPG"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]


@pytest.mark.parametrize(
    ("part", "param", "says"),
    [
        ({"type": "image_url", "image_url": {"url": "https://example.com/picture?id=3"}},
         "messages[0].content[1].image_url.url", "must be told their type"),
        ({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
         "messages[0].content[1].image_url.url", "http(s) or gs:// URL or a base64 data URL"),
        ({"type": "image_url", "image_url": {"url": "data:image/png,raw"}},
         "messages[0].content[1].image_url.url", "data:<media type>;base64,<data>"),
        ({"type": "file", "file": {"file_id": "file-abc"}}, "messages[0].content[1]", "inline"),
        ({"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}, "messages[0].content[1]", "not supported"),
    ],
)
def test_parts_google_cannot_take_are_refused_naming_the_field(part: dict[str, Any], param: str, says: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        encode([user([{"type": "text", "text": "look"}, part])])
    assert caught.value.param == param and says in caught.value.message


def test_generation_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    body = encode([user("q")], n=2, stop="END", max_completion_tokens=50, presence_penalty=0.5,
                  frequency_penalty=0.25, seed=7,
                  response_format={"type": "json_schema", "json_schema": {"name": "A", "schema": schema}})
    assert body["generationConfig"] == {
        "candidateCount": 2, "stopSequences": ["END"], "maxOutputTokens": 50, "presencePenalty": 0.5,
        "frequencyPenalty": 0.25, "seed": 7, "responseMimeType": "application/json", "responseJsonSchema": schema,
    }
    (native,) = calls(GOOGLE / "pydantic-ai" / "test_google_native_output.yaml")
    recorded_schema = native.request.body["generationConfig"]["responseJsonSchema"]
    fmt = {"type": "json_schema", "json_schema": {"name": "CityLocation", "schema": recorded_schema}}
    config = encode([user("q")], response_format=fmt)["generationConfig"]
    assert config == {k: v for k, v in native.request.body["generationConfig"].items() if k != "responseModalities"}
    assert encode([user("q")], response_format={"type": "json_object"})["generationConfig"] == {
        "responseMimeType": "application/json"
    }
    assert encode([user("q")], response_format={"type": "text"}, n=1)["generationConfig"] == {}
    with pytest.raises(ValidationFailed, match="unknown response_format"):
        encode([user("q")], response_format={"type": "grammar"})


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    body = encode([user("q")], tools=tools, tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert body["tools"] == [{"functionDeclarations": [{"name": "f"}]}]  # no parameters: none declared


def test_requests_google_cannot_take_are_refused() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    with pytest.raises(ValidationFailed) as caught:
        encode([user("q")], tools=tools, tool_choice="sometimes")
    assert caught.value.param == "tool_choice"
    with pytest.raises(ValidationFailed) as caught:
        encode([user("q"), {"role": "tool", "tool_call_id": "nowhere", "content": "x"}])
    assert caught.value.param == "messages[1].tool_call_id"
    with pytest.raises(ValidationFailed) as caught:
        encode([user("q"), {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}])
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"
    with pytest.raises(ValidationFailed, match="role 'function'"):
        encode([user("q"), {"role": "function", "name": "f", "content": "x"}])


# -- answers -------------------------------------------------------------------------------------------

ANSWERS = [
    *[(path, i) for path in sorted(GOOGLE.glob("*/*.yaml")) for i, item in enumerate(calls(path))
      if item.response.status == 200 and not item.response.is_sse],
]
STREAMS = [
    *[(path, i) for path in sorted(GOOGLE.glob("*/*.yaml")) for i, item in enumerate(calls(path))
      if item.response.status == 200 and item.response.is_sse],
]


def decode(body: bytes, **fields: Any) -> tuple[ChatCompletion, Any]:
    result = GEMINI_CHAT.decode_response(body, request([user("q")], **fields))
    return ChatCompletion.model_validate_json(result.body), result


@pytest.mark.parametrize(("path", "index"), ANSWERS, ids=lambda v: v.stem if isinstance(v, Path) else str(v))
def test_every_recorded_answer_is_an_openai_completion(path: Path, index: int) -> None:
    response = calls(path)[index].response
    if b"blockReason" in response.body:
        with pytest.raises(ContentFiltered):
            decode(response.body)
        return
    completion, result = decode(response.body)
    recorded = response.json()
    assert completion.id == recorded["responseId"] and completion.model == recorded["modelVersion"]
    meta = recorded["usageMetadata"]
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == meta["promptTokenCount"]
    assert completion.usage.total_tokens == meta["totalTokenCount"]
    assert result.usage == Usage(meta["promptTokenCount"], completion.usage.completion_tokens,
                                 meta.get("cachedContentTokenCount", 0))


def test_text_usage_with_reasoning_and_cached_tokens() -> None:
    (answer,) = calls(GOOGLE / "pydantic-ai" / "test_google_model_mobile_youtube_video_url_input.yaml")
    completion, result = decode(answer.response.body)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content is not None
    assert completion.choices[0].message.content.startswith("This video demonstrates an AI assistant")
    assert completion.usage is not None and completion.usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 17713, "completion_tokens": 889, "total_tokens": 18602,
        "prompt_tokens_details": {"cached_tokens": 17379}, "completion_tokens_details": {"reasoning_tokens": 821},
    }
    assert result.usage == Usage(input_tokens=17713, output_tokens=889, cached_tokens=17379)


def test_function_calls_become_tool_calls_with_ids_that_keep_their_signature() -> None:
    completion, result = decode((VERCEL / "google-tool-call.json").read_bytes())
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.id.startswith(f"call_m36LaZGyCLz1xs0PtNSB-QU_0{THOUGHT_MARK}EskgCsYgAb4+9vtF7")
    assert call.type == "function" and orjson.loads(call.function.arguments) == {"location": "San Francisco"}
    assert completion.choices[0].finish_reason == result.finish_reason == "tool_calls"
    assert completion.choices[0].message.content is None
    # Vertex names its calls itself: that id is kept.
    vertex = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}, "id": "vcyiitct"}}]},
                              "finishReason": "STOP"}], "responseId": "r", "modelVersion": "m"}
    completion, _ = decode(orjson.dumps(vertex))
    assert [c.id for c in completion.choices[0].message.tool_calls or []] == ["vcyiitct"]


def test_several_candidates_are_several_choices() -> None:
    answer = {"candidates": [
        {"index": 1, "content": {"parts": [{"text": "two"}]}, "finishReason": "MAX_TOKENS"},
        {"index": 0, "content": {"parts": [{"text": "thinking", "thought": True}, {"text": "one"}]},
         "finishReason": "STOP"},
    ], "responseId": "r", "modelVersion": "m", "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4}}
    completion, result = decode(orjson.dumps(answer), n=2)
    assert [(c.index, c.message.content, c.finish_reason) for c in completion.choices] == [
        (0, "one", "stop"), (1, "two", "length"),
    ]
    assert result.usage == Usage(3, 4)


@pytest.mark.parametrize(
    ("reason", "called", "expected"),
    [("STOP", False, "stop"), ("STOP", True, "tool_calls"), ("MAX_TOKENS", True, "length"),
     ("SAFETY", False, "content_filter"), ("RECITATION", False, "content_filter"),
     ("PROHIBITED_CONTENT", False, "content_filter"), ("MODEL_ARMOR", False, "content_filter"),
     ("MALFORMED_FUNCTION_CALL", False, "stop"), ("OTHER", False, "stop"), (None, False, None)],
)
def test_finish_reasons(reason: str | None, called: bool, expected: str | None) -> None:
    assert finish_reason(reason, called) == expected


def test_a_blocked_prompt_is_content_filtered() -> None:
    (blocked,) = calls(GOOGLE / "pydantic-ai" / "test_google_model_armor_prompt_template_text_gets_blocked.yaml")
    with pytest.raises(ContentFiltered) as caught:
        decode(blocked.response.body)
    assert caught.value.message == "The prompt violated Prompt Injection and Jailbreak filters."
    assert caught.value.details == {"upstream_type": "content_filter", "upstream_code": "MODEL_ARMOR"}
    with pytest.raises(ContentFiltered, match=r"the prompt was blocked by Google \(SAFETY\)"):
        decode(b'{"promptFeedback": {"blockReason": "SAFETY"}}')


def test_an_answer_without_candidates_or_json_is_not_a_completion() -> None:
    with pytest.raises(ValueError):
        decode(b'{"usageMetadata": {"promptTokenCount": 1}}')
    with pytest.raises(ValueError):
        decode(b"<html>")


# -- streams -------------------------------------------------------------------------------------------


def translate(body: bytes, include_usage: bool = True, **fields: Any) -> tuple[list[dict[str, Any]], GeminiChatStream]:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    translator = GEMINI_CHAT.stream_translator(request([user("q")], stream=True, **options, **fields))
    payloads = [payload for event in sse_events(body) for payload in translator.feed(event)]
    payloads += translator.finish()
    for payload in payloads:
        ChatCompletionChunk.model_validate_json(payload)  # every chunk is what the OpenAI SDK expects
    return [orjson.loads(payload) for payload in payloads], translator


def chunks_body(name: str) -> bytes:
    lines = (VERCEL / name).read_text().splitlines()
    return b"".join(b"data: " + line.encode() + b"\r\n\r\n" for line in lines if line)


@pytest.mark.parametrize(("path", "index"), STREAMS, ids=lambda v: v.stem if isinstance(v, Path) else str(v))
def test_every_recorded_stream_translates_to_well_formed_chunks(path: Path, index: int) -> None:
    body = calls(path)[index].response.body
    chunks, translator = translate(body)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] is not None and finishes.count(None) == len(finishes) - 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == translator.state.usage.total_tokens
    events = [orjson.loads(event.raw) for event in sse_events(body)]
    assert {c["id"] for c in chunks} == {events[0]["responseId"]}
    assert translator.state.done and translator.state.error is None
    last = events[-1]["usageMetadata"]
    assert translator.state.usage.input_tokens == last["promptTokenCount"]
    assert translator.state.usage.total_tokens == last["totalTokenCount"]


@pytest.mark.parametrize(("json_name", "stream_name"), [("google-text.json", "google-text.chunks.txt"),
                                                        ("google-tool-call.json", "google-tool-call.chunks.txt")])
def test_a_stream_accumulates_to_what_the_whole_answer_says(json_name: str, stream_name: str) -> None:
    whole, _ = decode((VERCEL / json_name).read_bytes())
    chunks, _ = translate(chunks_body(stream_name), include_usage=False)
    assert all(c["choices"] for c in chunks)  # no usage chunk unless asked
    streamed = accumulate(chunks).choices[0]
    assert streamed.finish_reason == whole.choices[0].finish_reason
    assert bool(streamed.message.content) == bool(whole.choices[0].message.content)
    assert [c.function.name for c in streamed.message.tool_calls or []] == [
        c.function.name for c in whole.choices[0].message.tool_calls or []
    ]


def test_thoughts_are_left_out_of_streams() -> None:
    (prompt,) = calls(GOOGLE / "llm-gemini" / "test_prompt.yaml")
    chunks, translator = translate(prompt.response.body)
    assert accumulate(chunks).choices[0].message.content == "Scoop"
    assert translator.state.usage == Usage(input_tokens=11, output_tokens=293)


def test_a_streamed_tool_call_is_one_delta_with_its_signature_in_the_id() -> None:
    body = calls(GOOGLE / "pydantic-ai" / "test_google_streaming_tool_call_thought_signature.yaml")[0].response.body
    chunks, translator = translate(body)
    deltas = [c["choices"][0]["delta"]["tool_calls"] for c in chunks if c["choices"] and "tool_calls" in
              c["choices"][0]["delta"]]
    assert len(deltas) == 1
    ((call,),) = deltas
    assert call["index"] == 0 and call["function"] == {"name": "get_country", "arguments": "{}"}
    assert call["id"].startswith(f"call_QUVVadTSNJ6_qtsPvN7J8Q0_0{THOUGHT_MARK}EpwICpkIAXLI2nx")
    assert translator.state.finish_reason == "tool_calls"


def test_streamed_candidates_each_finish() -> None:
    events = [
        {"candidates": [{"index": 0, "content": {"parts": [{"text": "a"}]}},
                        {"index": 1, "content": {"parts": [{"text": "b"}]}}], "responseId": "r"},
        {"candidates": [{"index": 1, "finishReason": "STOP"}], "responseId": "r"},
        {"candidates": [{"index": 0, "finishReason": "MAX_TOKENS"}], "responseId": "r",
         "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 2}},
    ]
    translator = GEMINI_CHAT.stream_translator(request([user("q")], stream=True, n=2))
    out = [orjson.loads(p) for e in events[:2] for p in translator.feed(SSEEvent(orjson.dumps(e)))]
    assert not translator.state.done  # one candidate still going
    out += [orjson.loads(p) for p in translator.feed(SSEEvent(orjson.dumps(events[2])))]
    assert translator.state.done
    snapshot = accumulate(out)
    assert [(c.index, c.message.content, c.finish_reason) for c in snapshot.choices] == [
        (0, "a", "length"), (1, "b", "stop"),
    ]


def test_a_stream_that_stops_without_a_finish_reason_is_not_done() -> None:
    body = calls(GOOGLE / "pydantic-ai" / "test_google_model_stream.yaml")[0].response.body
    caller = request([user("q")], stream=True, stream_options={"include_usage": True})
    translator = GEMINI_CHAT.stream_translator(caller)
    for event in sse_events(body)[:-1]:
        translator.feed(event)
    assert translator.finish() == [] and not translator.state.done


def test_errors_and_blocks_inside_a_stream() -> None:
    translator = GEMINI_CHAT.stream_translator(request([user("q")], stream=True))
    error = {"error": {"code": 429, "message": "Resource exhausted. Please try again later.",
                       "status": "RESOURCE_EXHAUSTED"}}
    assert translator.feed(SSEEvent(orjson.dumps(error))) == []
    assert translator.state.error is not None
    failure = classify_vendor_error(translator.state.error, provider="g")
    assert isinstance(failure, RateLimited) and failure.upstream_status == 429

    translator = GEMINI_CHAT.stream_translator(request([user("q")], stream=True))
    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "responseId": "r"}
    assert translator.feed(SSEEvent(orjson.dumps(blocked))) == []
    assert translator.state.error is not None
    failure = classify_vendor_error(translator.state.error, provider="g")
    assert isinstance(failure, ContentFiltered)
    assert failure.details == {"upstream_type": "content_filter", "upstream_code": "PROHIBITED_CONTENT"}

    translator = GEMINI_CHAT.stream_translator(request([user("q")], stream=True))
    assert translator.feed(SSEEvent(b"{not json")) == [] and translator.state.error is not None


# -- errors --------------------------------------------------------------------------------------------


def test_retry_info_says_when_to_come_back_and_makes_a_429_a_rate_limit() -> None:
    body = (VERCEL / "google-429-retry-info.json").read_bytes()
    said = GEMINI_CHAT.decode_error(body)
    assert said is not None
    assert (said.type, said.code, said.retry_after) == ("RESOURCE_EXHAUSTED", None, 34.4)
    failure = classify_status(429, said, {}, provider="g")
    assert isinstance(failure, RateLimited) and failure.retry_after == 34.4
    # Without RetryInfo, a 429 about a quota stays an exhausted quota.
    said.retry_after = None
    assert isinstance(classify_status(429, said, {}, provider="g"), QuotaExhausted)


def test_an_invalid_api_key_is_an_auth_failure_though_google_answers_400() -> None:
    (answer, *_) = load_cassette(GOOGLE / "crewai" / "test_google_streaming_returns_usage_metrics.yaml")
    said = GEMINI_CHAT.decode_error(answer.response.body)
    assert said is not None
    assert (said.message, said.type, said.code) == (
        "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", "API_KEY_INVALID",
    )
    assert isinstance(classify_status(400, said, {}, provider="g"), UpstreamAuthFailed)


def test_bad_request_field_violations_and_vertex_lists() -> None:
    body = orjson.dumps([{"error": {"code": 400, "message": "Invalid value", "status": "INVALID_ARGUMENT",
                                    "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                                 "fieldViolations": [{"field": "generation_config.top_p"}]}]}}])
    said = GEMINI_CHAT.decode_error(body)
    assert said is not None and said.param == "generation_config.top_p" and said.type == "INVALID_ARGUMENT"
    assert isinstance(classify_status(400, said, {}, provider="g"), UpstreamBadRequest)
    assert GEMINI_CHAT.decode_error(b'{"detail": "not google"}') is None
    assert GEMINI_CHAT.decode_error(b"[]") is None
    assert GEMINI_CHAT.decode_error(b"<html>502</html>") is None


def test_permission_denied_on_vertex() -> None:
    # The shape Google documents for google.rpc.Status with an ErrorInfo (values written for the test).
    body = orjson.dumps({"error": {
        "code": 403, "status": "PERMISSION_DENIED",
        "message": "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not exist).",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
                     "domain": "aiplatform.googleapis.com"}],
    }})
    said = GEMINI_CHAT.decode_error(body)
    assert said is not None and (said.type, said.code) == ("PERMISSION_DENIED", "IAM_PERMISSION_DENIED")
    assert isinstance(classify_status(403, said, {}, provider="v"), UpstreamPermissionDenied)
    in_stream = classify_vendor_error(said, provider="v")
    assert isinstance(in_stream, UpstreamPermissionDenied) and in_stream.upstream_status == 403
