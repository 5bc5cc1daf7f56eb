"""api-connector: one gateway through which a platform's services reach every external API."""

__version__ = "0.1.0"

from api_connector.sdk import Client, Connector

__all__ = ["Client", "Connector", "__version__"]
