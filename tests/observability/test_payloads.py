"""The request audit's bodies without a gateway: redaction paths, the size cap, per-project policies,
streamed answers (chat assembled, Responses ended, audio kept as size and type only)."""

from __future__ import annotations

import orjson
import pytest

from api_connector.capabilities.chat import CHAT
from api_connector.capabilities.embeddings import EMBEDDINGS
from api_connector.capabilities.speech import SPEECH
from api_connector.config import parse_config
from api_connector.core.chat import ChatRequest
from api_connector.core.embeddings import EmbeddingsRequest
from api_connector.core.speech import SpeechRequest
from api_connector.core.usage import Usage
from api_connector.errors import ConfigError, UpstreamError
from api_connector.observability.payload_paths import EVERY, parse_path, redact
from api_connector.observability.payloads import AuditPolicies, PayloadPolicy, PayloadTap
from api_connector.observability.redaction import MASK, Redactor
from api_connector.observability.settings_model import RequestAuditConfig
from api_connector.routing.streams import ReplayStream
from api_connector.wire.openai_responses import event_frame
from api_connector.wire.stream_assembly import assembled_chat, assembled_responses


def _policy(*paths: str, max_bytes: int = 4096) -> PayloadPolicy:
    return PayloadPolicy("sanitized", 30, max_bytes, tuple(parse_path(path) for path in paths))


def test_paths_parse_and_refuse_what_they_cannot_mean() -> None:
    assert parse_path("messages[*].content") == ("messages", EVERY, "content")
    assert parse_path("input") == ("input",)
    assert parse_path("a[0][*].b") == ("a", 0, EVERY, "b")
    for bad in ("", "messages[]", "a..b", "a[x]", "a.b[", "messages[*]content"):
        with pytest.raises(ValueError, match="redaction path"):
            parse_path(bad)


def test_redaction_replaces_what_a_path_reaches_and_leaves_the_original_alone() -> None:
    body = {
        "input": ["one", "two"],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "secret"}]}, {"role": "tool"}],
        "meta": {"user": {"email": "a@b.c", "id": 7}},
        "list": [1, 2, 3],
    }
    paths = tuple(parse_path(p) for p in ("input", "messages[*].content", "meta.user.email", "list[1]", "absent.x"))
    out = redact(body, paths)
    assert out == {
        "input": MASK,
        "messages": [{"role": "user", "content": MASK}, {"role": "tool"}],
        "meta": {"user": {"email": MASK, "id": 7}},
        "list": [1, MASK, 3],
    }
    assert body["input"] == ["one", "two"] and body["meta"]["user"]["email"] == "a@b.c"  # type: ignore[index]


def test_project_policies_override_the_section_and_add_redactions() -> None:
    config = RequestAuditConfig(
        redact=["input"],
        projects={"proj_x": {"payloads": "sanitized", "retention_days": 7, "redact": ["messages[*].content"]}},
    )
    policies = AuditPolicies(config)
    assert policies.of("proj_other") == PayloadPolicy("metadata", 30, 16_384, (("input",),))
    own = policies.of("proj_x")
    assert (own.mode, own.retention_days, own.redact) == ("sanitized", 7, (("input",), ("messages", EVERY, "content")))
    assert policies.sanitizing
    assert not AuditPolicies(RequestAuditConfig()).sanitizing
    # What the retention job sweeps: each project of its own, then every other project by the default.
    assert policies.retentions() == [("proj_x", 7), (None, 30)] and policies.own_projects == ("proj_x",)
    assert (policies.retention_days("proj_x"), policies.retention_days("proj_other")) == (7, 30)


def test_the_configuration_refuses_bad_modes_and_paths() -> None:
    with pytest.raises(ConfigError, match=r"audit\.payloads"):
        parse_config({"audit": {"payloads": "everything"}})
    with pytest.raises(ConfigError, match="redaction path"):
        parse_config({"audit": {"projects": {"proj_x": {"redact": ["messages[?]"]}}}})
    with pytest.raises(ConfigError, match=r"audit\.retention"):
        parse_config({"audit": {"retention": 3}})


def test_embeddings_input_is_redacted_and_the_body_cut_on_a_character() -> None:
    request = EmbeddingsRequest.model_validate({"model": "m", "input": ["private text"], "dimensions": 8})
    tap = PayloadTap(EMBEDDINGS, request, _policy("input"), Redactor())
    stored, _ = tap.stored()
    kept = orjson.loads(stored.text or "")
    assert (kept["model"], kept["input"], kept["dimensions"]) == ("m", MASK, 8)
    long = ChatRequest.from_json_obj({"model": "m", "messages": [{"role": "user", "content": "€" * 500}]})
    cut, _ = PayloadTap(CHAT, long, _policy(max_bytes=300), Redactor()).stored()
    assert cut.truncated and cut.text is not None and len(cut.text.encode()) <= 300 and cut.bytes and cut.bytes > 1500


def test_a_failed_call_keeps_its_error_masked() -> None:
    redactor = Redactor()
    redactor.add("hunter2-secret")
    request = ChatRequest.from_json_obj({"model": "m", "messages": [{"role": "user", "content": "hunter2-secret"}]})
    tap = PayloadTap(CHAT, request, _policy(), redactor)
    tap.failure = UpstreamError("upstream said hunter2-secret", provider="up")
    asked, answered = tap.stored()
    assert "hunter2" not in (asked.text or "") + (answered.text or "")
    assert orjson.loads(answered.text or "")["error"]["message"] == f"upstream said {MASK}"


def _chunk(delta: dict[str, object], finish: str | None = None, index: int = 0) -> bytes:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return orjson.dumps({"object": "chat.completion.chunk", "model": "m", "choices": [choice]})


def test_chat_chunks_assemble_into_the_completion_they_add_up_to() -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"q":'}}
    more = {"index": 0, "function": {"arguments": '"x"}'}}
    payloads = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hello"}),
        _chunk({"content": ", world"}),
        _chunk({"content": "other"}, index=1),
        _chunk({"tool_calls": [call]}),
        _chunk({"tool_calls": [more]}),
        _chunk({}, "tool_calls"),
        b"not json",
    ]
    answer = assembled_chat(payloads)
    first, second = answer["choices"]
    assert answer["model"] == "m" and answer["object"] == "chat.completion"
    assert first["message"]["content"] == "Hello, world" and first["finish_reason"] == "tool_calls"
    assert first["message"]["tool_calls"] == [
        {"type": "function", "id": "call_1", "function": {"name": "look", "arguments": '{"q":"x"}'}}
    ]
    assert second == {"index": 1, "message": {"role": "assistant", "content": "other"}, "finish_reason": None}


def test_a_responses_stream_is_kept_as_the_response_it_ended_with() -> None:
    delta = event_frame("response.output_text.delta", b'{"type":"response.output_text.delta","delta":"Hi"}')
    done = b'{"type":"response.completed","response":{"id":"resp_1","status":"completed","output":[]}}'
    assert assembled_responses([delta, event_frame("response.completed", done)])["id"] == "resp_1"
    assert assembled_responses([delta, delta])["output_text"] == "HiHi"


async def test_streamed_audio_is_kept_as_its_size_and_type_only() -> None:
    request = SpeechRequest.model_validate({"model": "tts", "input": "say this", "voice": "alloy"})
    tap = PayloadTap(SPEECH, request, _policy(), Redactor())
    stream = ReplayStream(None, [b"ID3" + bytes(1000), bytes(500)], Usage(characters=8))
    tap.watch(stream)
    async for _ in stream.batches():
        pass
    asked, answered = tap.stored()
    assert orjson.loads(asked.text or "")["input"] == "say this"
    assert answered.text is None and answered.bytes == 1503 and answered.type == "application/octet-stream"


async def test_a_streamed_chat_is_tapped_after_the_pieces_pass() -> None:
    request = ChatRequest.from_json_obj({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    tap = PayloadTap(CHAT, request, _policy("choices[*].message.content"), Redactor())
    stream = ReplayStream(None, [_chunk({"content": "private"}), _chunk({}, "stop")], Usage())
    tap.watch(stream)
    async for _ in stream.batches():
        pass
    _, answered = tap.stored()
    assert orjson.loads(answered.text or "")["choices"][0]["message"]["content"] == MASK
    assert tap.stored() is tap.stored()  # rendered once, whatever the writer retries
