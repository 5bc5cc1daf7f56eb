"""Offline rerank conformance: every provider type that declares rerank, replayed through the gateway.

For every case of ``rerank_table.RERANK_CASES``: a replay server answers with the recorded (or
documented) answer, the whole service runs with one provider instance of the case's type pointed at
it, and a plain HTTP client posts to ``/v1/rerank``. The suite checks what the vendor received (path,
credential header, body) and what the client got, and that the credential appears in no answer and no
log line. A provider type that declares rerank without a case fails the suite.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from tests.conformance.providers import (
    check_covered,
    check_credential,
    conformance_secret,
    network_provider_types,
    secret_values,
)
from tests.conformance.rerank_table import RERANK_CASES, RerankCase
from tests.gateway import run_gateway
from tests.replay_upstream import replay_upstream

INSTANCE = "replayed"
KEY_ENV = "CONFORMANCE_RERANK_KEY"


@pytest.mark.parametrize("case", RERANK_CASES, ids=[case.id for case in RERANK_CASES])
async def test_rerank_replay(case: RerankCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = REGISTRY[case.provider]
    endpoint = spec.endpoints[Capability.RERANK]
    assert spec.base_url is not None
    secret = conformance_secret(case.provider)
    monkeypatch.setenv(KEY_ENV, secret)
    interactions = case.interactions(spec.base_url + endpoint.path)
    async with replay_upstream(interactions) as upstream:
        config = {"providers": {INSTANCE: {
            "type": case.provider, "base_url": upstream.rebase(spec.base_url), "credential": f"env:{KEY_ENV}",
        }}}
        with run_gateway(tmp_path, config) as gateway:
            body = {**case.request, "model": f"{INSTANCE}/{case.request['model']}"}
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.post(gateway.v1 + "/rerank", json=body, headers=gateway.headers())
            logs = gateway.logs.lines()
        assert not upstream.unexpected and not upstream.remaining
    assert answer.status_code == 200, answer.text
    assert answer.json() == case.answer
    (received,) = upstream.received
    assert received.method == "POST"
    assert received.path == urlsplit(spec.base_url).path + endpoint.path
    check_credential(case.provider, received, secret, gateway.admin_key)
    expected = case.upstream
    if expected is None:
        recorded = interactions[0].request.body
        assert isinstance(recorded, dict) and set(case.not_in_our_shape) <= recorded.keys()
        expected = {key: value for key, value in recorded.items() if key not in case.not_in_our_shape}
    assert received.body == expected
    said = [answer.text, *answer.headers.values(), *logs]
    leaks = [text for text in said for value in secret_values(secret) if value in text]
    assert not leaks, f"the upstream credential leaked: {leaks[:3]}"
    assert sum("/v1/rerank" in line for line in logs) >= 1, "one access line per call"


def test_every_rerank_provider_has_a_case() -> None:
    check_covered(Capability.RERANK, {case.provider for case in RERANK_CASES})


def test_every_rerank_wire_is_replayed() -> None:
    wires = {REGISTRY[name].endpoints[Capability.RERANK].wire for name in network_provider_types(Capability.RERANK)}
    replayed = {REGISTRY[case.provider].endpoints[Capability.RERANK].wire for case in RERANK_CASES}
    assert wires <= replayed


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in RERANK_CASES}) == len(RERANK_CASES)
