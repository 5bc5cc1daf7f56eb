"""Chat answers that take several requests in one attempt (Replicate's predictions) through one exchange:
URLs the vendor's answers point to are followed only on the provider's own origins, polls stay within the
call's deadline, a stream is settled by one last request, and a stream asked of a job that answers whole
is given as chunks. Served by the replay upstream from the documented Replicate fixtures."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.recorded import Interaction, RecordedResponse, load_cassette
from tests.replay_upstream import ReplayServer, replay_upstream

from api_connector.capabilities.chat import CHAT
from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.core.exchange import Outbound
from api_connector.core.usage import Usage
from api_connector.credentials.resolver import CredentialResolver
from api_connector.errors import UpstreamProtocolError, UpstreamServerError, UpstreamTimeout
from api_connector.observability.redaction import Redactor
from api_connector.providers import REGISTRY
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.catalog import ProviderInstance, Target
from api_connector.routing.exchange import Exchange, Upstreams, own_origin
from api_connector.transport.http import Timeouts, Transport

DOCUMENTED = Path(__file__).parents[1] / "data" / "documented" / "replicate"
MODEL = "meta/meta-llama-3.1-405b-instruct"
SPEC = REGISTRY["replicate"]
SECRET = "r8_job-exchange-test-token"


@pytest.mark.parametrize(("url", "own"), [
    ("https://api.replicate.com/v1/predictions/x", True),
    ("https://streaming.api.replicate.com/v1/predictions/x", True),
    ("https://streaming-api.svc.rno2.c.replicate.net/v1/streams/x", True),
    ("http://streaming.api.replicate.com/v1/predictions/x", False),  # not over the declared scheme
    ("https://replicate.com.evil.example/v1/x", False),
    ("https://evilreplicate.com/v1/x", False),
    ("https://example.com/v1/predictions/x", False),
])
def test_own_origins(url: str, own: bool) -> None:
    assert own_origin(url, "https://api.replicate.com/v1", SPEC.linked_origins) is own


def chat(**fields: Any) -> ChatRequest:
    body = {"model": "rep/" + MODEL, "messages": [{"role": "user", "content": "Tina?"}], "max_tokens": 1024}
    return ChatRequest.from_json_obj({**body, **fields})


@asynccontextmanager
async def job(
    interactions: list[Interaction], deadline: float | None = None
) -> AsyncIterator[tuple[Exchange, ReplayServer]]:
    async with replay_upstream(interactions) as upstream:
        base = upstream.rebase(SPEC.base_url or "")
        upstream.point_here(lambda url: own_origin(url, SPEC.base_url or "", SPEC.linked_origins))
        instance = ProviderInstance("rep", SPEC, base, "env:REPLICATE_KEY", Timeouts(5, 5, 5))
        transport = Transport(user_agent="test")
        upstreams = Upstreams(transport, CredentialResolver({"REPLICATE_KEY": SECRET}, Redactor()))
        started = time.perf_counter()
        call = Call("req", "default", None, Capability.CHAT, started, None if deadline is None else started + deadline)
        try:
            yield upstreams.exchange(call, AttemptLog(), Target(instance, MODEL)), upstream
        finally:
            await transport.close()


def documented(name: str) -> list[Interaction]:
    return load_cassette(DOCUMENTED / name)


def with_body(interaction: Interaction, change: Any) -> Interaction:
    body = interaction.response.json()
    change(body)
    response = RecordedResponse(interaction.response.status, orjson.dumps(body), interaction.response.headers)
    return Interaction(interaction.request, response)


async def test_every_request_of_a_job_carries_the_credential_and_polls_until_done() -> None:
    async with job(documented("prediction_poll.yaml")) as (exchange, upstream):
        result = await CHAT.fetch(chat(), exchange)
    assert [(r.method, r.path) for r in upstream.received] == [
        ("POST", f"/v1/models/{MODEL}/predictions"),
        ("GET", "/v1/predictions/zjq6szssxdrm20cgw0fsntgvbg"),
        ("GET", "/v1/predictions/zjq6szssxdrm20cgw0fsntgvbg"),
    ]
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in upstream.received)
    assert upstream.received[0].headers["prefer"] == "wait" and result.usage == Usage(26, 84)


async def test_polling_stops_at_the_calls_deadline() -> None:
    created, running, _ = documented("prediction_poll.yaml")
    async with job([created, *[running] * 6], deadline=1.2) as (exchange, upstream):
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await CHAT.fetch(chat(), exchange)
        assert time.monotonic() - started < 1.2  # it gives up before the deadline rather than after
    assert 2 <= len(upstream.received) <= 3


async def test_a_url_outside_the_providers_origins_is_not_followed() -> None:
    created, _, _ = documented("prediction_poll.yaml")
    elsewhere = with_body(created, lambda body: body["urls"].update(get="https://example.com/v1/predictions/x"))
    async with job([elsewhere]) as (exchange, upstream):
        with pytest.raises(UpstreamProtocolError) as refused:
            await CHAT.fetch(chat(), exchange)
        assert refused.value.sent is False
        with pytest.raises(UpstreamProtocolError):
            await exchange.send(Outbound("", method="GET", url="https://example.com/steal"))
    assert len(upstream.received) == 1  # only the create: the credential went nowhere else


async def test_a_stream_is_settled_by_the_predictions_final_state() -> None:
    async with job(documented("prediction_stream.yaml")) as (exchange, upstream):
        stream = await CHAT.open(chat(stream=True, stream_options={"include_usage": True}), exchange)
        payloads = [payload for batch in [b async for b in stream.batches()] for payload in batch]
    chunks = [orjson.loads(payload) for payload in payloads]
    assert stream.complete and stream.usage == Usage(26, 84)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["total_tokens"] == 110
    assert [r.headers.get("accept") for r in upstream.received][1] == "text/event-stream"


async def test_a_stream_whose_final_state_cannot_be_read_still_ends_cleanly() -> None:
    created, events, _ = documented("prediction_stream.yaml")
    async with job([created, events]) as (exchange, _):  # the last read answers 404 here
        stream = await CHAT.open(chat(stream=True, stream_options={"include_usage": True}), exchange)
        payloads = [payload for batch in [b async for b in stream.batches()] for payload in batch]
    last = orjson.loads(payloads[-1])
    assert stream.complete and stream.error is None and stream.usage == Usage()
    # The text is whole and finished; no usage chunk, rather than a false one of nothing.
    assert last["choices"][0]["finish_reason"] == "stop" and "usage" not in last


async def test_a_stream_asked_of_a_model_that_cannot_stream_comes_as_chunks_of_the_whole_answer() -> None:
    created, running, done = documented("prediction_poll.yaml")
    no_stream = [with_body(item, lambda body: body["urls"].pop("stream")) for item in (created, running, done)]
    async with job(no_stream) as (exchange, _):
        stream = await CHAT.open(chat(stream=True, stream_options={"include_usage": True}), exchange)
        payloads = [payload for batch in [b async for b in stream.batches()] for payload in batch]
    chunks = [orjson.loads(payload) for payload in payloads]
    text = "".join(choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"])
    assert text == "".join(done.response.json()["output"])
    assert chunks[1]["choices"][0]["finish_reason"] == "stop" and chunks[2]["usage"]["prompt_tokens"] == 26
    assert stream.usage == Usage(26, 84)


async def test_a_failed_prediction_is_classified_as_the_providers_trouble() -> None:
    failed, _ = documented("prediction_failed_then_retried.yaml")
    async with job([failed]) as (exchange, _):
        with pytest.raises(UpstreamServerError) as raised:
            await CHAT.fetch(chat(), exchange)
    assert raised.value.message == "Prediction interrupted; please retry (code: PA)"
