"""Live transcription through the running gateway over WebSockets, with real speech (espeak-ng, sox) sent
in frames paced like a live source to a Deepgram simulator answering with recorded messages: interim
then final transcripts in order, keep-alive, clean closes, audio seconds metered and priced, an audit
row per session, keys (header and subprotocol), project isolation, failover before the first
transcript only, bounded frames and session length."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
from tests.audio import RATE, audio_info, seconds, spoken
from tests.capabilities.live_upstream import RESULTS, LiveUpstream, live_upstream
from tests.capabilities.test_embeddings import usage_row
from tests.credentials.conftest import ROOT_KEY
from tests.gateway import RunningGateway, run_gateway
from tests.waiting import wait_for

KEY_ENV = "LIVE_TEST_KEY"
SECRET = "dg-live-test-0123456789abcdef"
TEXT = "Testing one two three. Testing one two three."
FRAME = RATE * 2 // 10  # 100 ms of 16-bit mono audio
FINAL_TEXT = RESULTS["channel"]["alternatives"][0]["transcript"]
PRICE_PER_MINUTE = 0.0077


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


def provider(upstream: LiveUpstream) -> dict[str, Any]:
    return {"type": "deepgram", "base_url": upstream.base_url, "credential": f"env:{KEY_ENV}"}


def config(*upstreams: tuple[str, LiveUpstream]) -> dict[str, Any]:
    return {
        "providers": {name: provider(up) for name, up in upstreams},
        "routes": {"live": {"targets": [{"provider": name, "model": "nova-3"} for name, _ in upstreams]}},
        "prices": {"nova-3": {"per_audio_minute": PRICE_PER_MINUTE}},
    }


def url(gateway: RunningGateway, model: str = "live", **query: str) -> str:
    params = {"model": model, "encoding": "linear16", "sample_rate": str(RATE), **query}
    return (
        gateway.base_url.replace("http", "ws", 1)
        + "/v1/audio/transcriptions/live?"
        + httpx.QueryParams(params).__str__()
    )


def pcm() -> bytes:
    return spoken(TEXT, "pcm")


async def send_paced(ws: aiohttp.ClientWebSocketResponse, audio: bytes) -> None:
    """Frames of 100 ms, a little faster than real time (a live source sends as it records)."""
    for start in range(0, len(audio), FRAME):
        await ws.send_bytes(audio[start : start + FRAME])
        await asyncio.sleep(0.01)


async def messages_until_close(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async for message in ws:
        assert message.type is aiohttp.WSMsgType.TEXT, message
        got.append(orjson.loads(message.data))
    return got


async def session(
    gateway: RunningGateway, audio: bytes, *, headers: dict[str, str] | None = None, **query: str
) -> tuple[list[dict[str, Any]], int | None]:
    """A whole session: the audio paced, then a clean close; every message and the close code (read
    while the audio goes out: the gateway may end the session first)."""
    async with (
        aiohttp.ClientSession() as client,
        client.ws_connect(url(gateway, **query), headers=headers or gateway.headers()) as ws,
    ):

        async def feed() -> None:
            with contextlib.suppress(ConnectionError):
                await send_paced(ws, audio)
                await ws.send_str('{"type": "close"}')

        sending = asyncio.create_task(feed())
        got = await messages_until_close(ws)
        await sending
        return got, ws.close_code


def live_rows(gateway: RunningGateway) -> list[dict[str, Any]]:
    rows = httpx.get(gateway.base_url + "/admin/usage", headers=gateway.headers(), timeout=30).json()["data"]
    return [row for row in rows if row["capability"] == "live_transcription"]


def audit_rows(gateway: RunningGateway, request_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        gateway.base_url + "/admin/audit", params={"action": "live.session"}, headers=gateway.headers(), timeout=30
    )
    return [row for row in answer.json()["data"] if row["request_id"] == request_id]


# -- a session ----------------------------------------------------------------------------------------


async def test_interim_then_final_transcripts_in_order_metered_in_audio_seconds(tmp_path: Path) -> None:
    audio = pcm()
    with live_upstream() as up, run_gateway(tmp_path, config(("dg", up))) as gateway:
        got, code = await session(gateway, audio, vad_events="true", utterance_end_ms="1000")
        kinds = [m["type"] for m in got]
        assert code == 1000
        assert kinds[0] == "speech_started" and kinds[-3:] == ["utterance_end", "metadata", "session_end"], kinds
        transcripts = [m for m in got if m["type"] == "transcript"]
        interims, finals = transcripts[:-1], transcripts[-1:]
        assert interims and all(not m["is_final"] for m in interims)
        sizes = [len(m["words"]) for m in interims]
        assert sizes == sorted(sizes), "interim results grow in order"
        assert finals[0]["is_final"] and finals[0]["speech_final"] and finals[0]["text"] == FINAL_TEXT
        assert finals[0]["words"][0] == {"word": "Testing.", "start": 1.22, "end": 1.62, "confidence": 0.483064}
        assert "native" not in finals[0]

        # The simulator heard exactly the caller's audio, with the session's options and the credential.
        [heard] = up.sessions
        assert bytes(heard.audio) == audio
        assert heard.headers["authorization"] == f"Token {SECRET}"
        assert heard.query["model"] == "nova-3" and heard.query["encoding"] == "linear16"
        assert heard.query["sample_rate"] == str(RATE) and heard.query["interim_results"] == "true"
        assert heard.controls[-1] == "CloseStream"

        length = seconds(audio_info(audio, "pcm"))  # sox's measure of the real audio
        end = got[-1]
        assert end["reason"] == "closed" and end["provider"] == "dg" and end["model"] == "nova-3"
        assert end["audio_seconds"] == pytest.approx(length, abs=0.01)
        row = usage_row(gateway, end["request_id"])
        assert (row["capability"], row["status"], row["provider"]) == ("live_transcription", "success", "dg")
        assert row["audio_seconds"] == pytest.approx(length, abs=0.01)
        assert row["cost_usd"] == pytest.approx(row["audio_seconds"] / 60 * PRICE_PER_MINUTE)
        wait_for(lambda: bool(audit_rows(gateway, end["request_id"])), "the session's audit row")
        [audited] = audit_rows(gateway, end["request_id"])
        assert (audited["outcome"], audited["target_id"]) == ("success", "dg")
        assert SECRET not in gateway.logs.getvalue()


async def test_native_messages_ride_along_when_asked(tmp_path: Path) -> None:
    with live_upstream() as up, run_gateway(tmp_path, config(("dg", up))) as gateway:
        got, _ = await session(gateway, pcm(), native="true")
    final = [m for m in got if m["type"] == "transcript"][-1]
    assert final["native"] == {**RESULTS, "from_finalize": False}


async def test_the_provider_gets_keepalive_while_the_caller_is_quiet(tmp_path: Path) -> None:
    with live_upstream() as up, run_gateway(tmp_path, config(("dg", up)), live_keepalive_seconds=0.2) as gateway:
        async with aiohttp.ClientSession() as client, client.ws_connect(url(gateway), headers=gateway.headers()) as ws:
            await ws.send_bytes(pcm()[:FRAME])
            await asyncio.to_thread(
                wait_for,
                lambda: bool(up.sessions) and "KeepAlive" in up.sessions[0].controls,
                "a KeepAlive to the provider",
            )
            await ws.send_str('{"type": "finalize"}')
            await asyncio.to_thread(wait_for, lambda: "Finalize" in up.sessions[0].controls, "Finalize passed on")
            await ws.send_str('{"type": "close"}')
            got = await messages_until_close(ws)
        assert [m["type"] for m in got][-2:] == ["metadata", "session_end"] and ws.close_code == 1000


async def test_a_caller_closing_its_socket_closes_the_provider_cleanly_and_is_metered(tmp_path: Path) -> None:
    audio = pcm()
    with live_upstream() as up, run_gateway(tmp_path, config(("dg", up))) as gateway:
        async with aiohttp.ClientSession() as client, client.ws_connect(url(gateway), headers=gateway.headers()) as ws:
            await send_paced(ws, audio)
            first = await ws.receive_json()  # a transcript: the session is under way
            assert first["type"] == "transcript"
            await ws.close()
        await asyncio.to_thread(wait_for, lambda: up.sessions[0].ended.is_set(), "the provider's session to end")
        assert up.sessions[0].controls[-1] == "CloseStream"
        await asyncio.to_thread(wait_for, lambda: bool(live_rows(gateway)), "the session's usage row")
        [row] = live_rows(gateway)
        assert row["status"] == "success" and row["audio_seconds"] == pytest.approx(len(audio) / (RATE * 2), abs=0.01)


# -- keys and projects --------------------------------------------------------------------------------


async def test_no_key_is_refused_before_the_upgrade_and_a_subprotocol_key_is_accepted(tmp_path: Path) -> None:
    with live_upstream() as up, run_gateway(tmp_path, config(("dg", up))) as gateway:
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(url(gateway))
            assert refused.value.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(url(gateway), protocols=("api-connector.live", "api-connector.key.ack_wrong"))
            assert refused.value.status == 401
            offered = ("api-connector.live", "api-connector.key." + gateway.admin_key)
            async with client.ws_connect(url(gateway), protocols=offered) as ws:
                assert ws.protocol == "api-connector.live"  # the key is never sent back
                await send_paced(ws, pcm())
                await ws.send_str('{"type": "close"}')
                got = await messages_until_close(ws)
        assert got[-1]["type"] == "session_end" and not up.refused
        assert gateway.admin_key not in gateway.logs.getvalue()


async def test_a_second_project_cannot_use_the_first_projects_provider(tmp_path: Path) -> None:
    def admin(method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        return httpx.request(method, gateway.base_url + path, headers=gateway.headers(key), timeout=30, **kw)

    with live_upstream() as up, run_gateway(tmp_path, integration_crypto_key=ROOT_KEY) as gateway:
        org = admin("POST", "/admin/organizations", json={"name": "acme"}).json()
        project_b = admin("POST", "/admin/projects", json={"organization_id": org["id"], "name": "b"}).json()
        scopes = ["admin", "inference"]
        b = admin("POST", "/admin/keys", json={"name": "b", "scopes": scopes, "project_id": project_b["id"]}).json()
        a = admin("POST", "/admin/keys", json={"name": "a", "scopes": scopes}).json()
        stored = {"name": "b-dg-key", "provider": "deepgram", "secret": SECRET, "verify": False}
        credential = admin("POST", "/admin/credentials", b["key"], json=stored).json()["id"]
        b_provider = {**provider(up), "credential": credential}
        created = admin("POST", "/admin/providers", b["key"], json={"name": "b-dg", "config": b_provider})
        assert created.status_code == 201, created.text
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(url(gateway, "b-dg/nova-3"), headers=gateway.headers(a["key"]))
            assert refused.value.status == 404
        got, code = await session(gateway, pcm(), headers=gateway.headers(b["key"]), model="b-dg/nova-3")
    assert code == 1000 and got[-1]["provider"] == "b-dg" and len(up.sessions) == 1


# -- failover -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["refuse", "fail_before"])
async def test_a_target_failing_before_the_first_transcript_hands_the_session_to_the_next(
    failing: str, tmp_path: Path
) -> None:
    audio = pcm()
    with (
        live_upstream(mode=failing) as bad,
        live_upstream() as good,
        run_gateway(tmp_path, config(("bad", bad), ("good", good))) as gateway,
    ):
        got, code = await session(gateway, audio)
        row = usage_row(gateway, got[-1]["request_id"])
    assert code == 1000 and got[-1]["provider"] == "good"
    assert [m for m in got if m["type"] == "transcript"][-1]["text"] == FINAL_TEXT
    assert bytes(good.sessions[0].audio) == audio, "the next target hears the session from its start"
    assert bad.refused or bad.sessions
    assert row["status"] == "success" and row["provider"] == "good"


async def test_a_failure_after_a_transcript_closes_the_session_with_an_error(tmp_path: Path) -> None:
    with (
        live_upstream(mode="fail_after") as breaking,
        live_upstream() as spare,
        run_gateway(tmp_path, config(("breaking", breaking), ("spare", spare))) as gateway,
    ):
        got, code = await session(gateway, pcm())
        error = got[-1]
        row = usage_row(gateway, error["request_id"])
        wait_for(lambda: bool(audit_rows(gateway, error["request_id"])), "the session's audit row")
        [audited] = audit_rows(gateway, error["request_id"])
    assert got[0]["type"] == "transcript", "a transcript went out first"
    assert error["type"] == "error" and error["error"]["provider"] == "breaking" and code == 1011
    assert not spare.sessions, "no failover once a transcript went out"
    assert (row["status"], row["provider"]) == ("error", "breaking")
    assert audited["outcome"] == "failure" and audited["details"]["close_code"] == 1011


async def test_every_target_failing_closes_with_4000_plus_the_status(tmp_path: Path) -> None:
    with live_upstream(mode="refuse", status=401) as bad, run_gateway(tmp_path, config(("bad", bad))) as gateway:
        got, code = await session(gateway, pcm()[: FRAME * 3])
    assert got[-1]["type"] == "error" and code == 4000 + 401 and got[-1]["error"]["code"] == "auth_failed"


# -- bounds -------------------------------------------------------------------------------------------


async def test_a_frame_above_the_limit_closes_with_1009(tmp_path: Path) -> None:
    with live_upstream() as up, run_gateway(tmp_path, config(("dg", up)), live_max_frame_bytes=4096) as gateway:
        async with aiohttp.ClientSession() as client, client.ws_connect(url(gateway), headers=gateway.headers()) as ws:
            await ws.send_bytes(b"\0" * 5000)
            async for _ in ws:
                pass
        assert ws.close_code == 1009


async def test_a_session_ends_at_its_length_bound_with_the_last_results(tmp_path: Path) -> None:
    audio = pcm() * 2  # about six seconds at real time
    # A bound that leaves a loaded machine time for the first transcript (before it, a session that runs
    # out of time is a failed attempt, not an ended session).
    with live_upstream() as up, run_gateway(tmp_path, config(("dg", up)), live_max_session_seconds=2.5) as gateway:
        async with aiohttp.ClientSession() as client, client.ws_connect(url(gateway), headers=gateway.headers()) as ws:

            async def real_time() -> None:  # the audio lasts longer than the session may
                with contextlib.suppress(ConnectionError):
                    for start in range(0, len(audio), FRAME):
                        await ws.send_bytes(audio[start : start + FRAME])
                        await asyncio.sleep(0.1)

            sending = asyncio.create_task(real_time())
            got = await messages_until_close(ws)
            sending.cancel()
    assert got[-1]["type"] == "session_end" and got[-1]["reason"] == "max_duration" and ws.close_code == 1000
    assert up.sessions[0].controls[-1] == "CloseStream"
    assert [m for m in got if m["type"] == "transcript"][-1]["is_final"]


async def test_caller_limits_are_checked_when_a_session_starts(tmp_path: Path) -> None:
    limited = {**config(), "limits": {"default_key": {"requests_per_minute": 1}}}
    with live_upstream() as up:
        limited["providers"] = {"dg": provider(up)}
        limited["routes"] = {"live": {"targets": [{"provider": "dg", "model": "nova-3"}]}}
        with run_gateway(tmp_path, limited) as gateway:
            first, code = await session(gateway, pcm())
            assert code == 1000 and first[-1]["type"] == "session_end"
            refused, code = await session(gateway, pcm()[: FRAME * 3])
    assert code == 4000 + 429 and refused[-1]["type"] == "error" and refused[-1]["error"]["code"] == "rate_limited"
    assert len(up.sessions) == 1, "a refused session never reaches the provider"
