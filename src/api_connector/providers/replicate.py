"""Replicate: language models run as predictions (create, then wait, poll or stream), a Bearer token.

Route targets name ``owner/name`` (an official model) or ``owner/name:version``. A prediction's stream
is served from another host of Replicate's, which its answers point to.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.replicate_predictions import ReplicatePredictionsWire

SPEC = ProviderSpec(
    type="replicate",
    title="Replicate",
    base_url="https://api.replicate.com/v1",
    # Predictions keep no end user's id: ``user`` (for the vendor's abuse monitoring) is left out.
    endpoints={
        Capability.CHAT: Endpoint(
            path="/models/{model}/predictions", wire=ReplicatePredictionsWire(drops=frozenset({"user"}))
        )
    },
    # The account behind the token: free, and 401 on a bad one.
    probe=HealthProbe(path="/account"),
    models=(
        "meta/meta-llama-3-8b-instruct",
        "meta/meta-llama-3-70b-instruct",
        "meta/meta-llama-3.1-405b-instruct",
    ),
    # Stream URLs have been on hosts of both of Replicate's domains (streaming.api.replicate.com,
    # streaming-api.svc.<region>.replicate.net).
    linked_origins=("https://*.replicate.com", "https://*.replicate.net"),
    docs_url="https://replicate.com/docs/reference/http",
)
