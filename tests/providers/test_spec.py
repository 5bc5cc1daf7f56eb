"""What an endpoint declaration works out on its own: the URL of an endpoint served on a sibling host."""

from __future__ import annotations

import pytest

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from api_connector.routing.exchange import own_origin

LIVE = REGISTRY["assemblyai"].endpoints[Capability.LIVE_TRANSCRIPTION]


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.assemblyai.com", "https://streaming.assemblyai.com/v3/ws"),
        ("https://api.eu.assemblyai.com", "https://streaming.eu.assemblyai.com/v3/ws"),
        ("https://API.assemblyai.com", "https://streaming.assemblyai.com/v3/ws"),
        ("http://127.0.0.1:8123", None),  # a test double serves the endpoint itself
        ("https://proxy.internal.example", None),  # so does a proxy
        ("https://api", None),  # a single label has no sibling
    ],
)
def test_an_endpoint_on_a_sibling_host(base_url: str, url: str | None) -> None:
    assert LIVE.url_for(base_url, "/v3/ws") == url
    if url is not None:  # the sibling is one of the provider's own origins: the credential may go there
        spec = REGISTRY["assemblyai"]
        assert own_origin(url, base_url, spec.linked_origins)


def test_an_endpoint_without_a_sibling_is_below_the_base_url() -> None:
    deepgram = REGISTRY["deepgram"].endpoints[Capability.LIVE_TRANSCRIPTION]
    assert deepgram.url_for("https://api.deepgram.com", "/v1/listen") is None
