"""A plain HTTP API reached only through the generic request API (webhooks, data stores, ...)."""

from api_connector.providers.spec import ProviderSpec

SPEC = ProviderSpec(
    type="http",
    title="Generic HTTP API",
    base_url=None,
    requires_credential=False,
)
