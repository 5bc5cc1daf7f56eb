"""The Python SDK: ``Client`` talks to a running service, ``Connector`` runs the same pipeline in-process."""

from api_connector.sdk.client import Client
from api_connector.sdk.connector import Connector
from api_connector.sdk.types import (
    ErrorInfo,
    HealthStatus,
    ProviderInfo,
    RequestFailed,
    RequestMetadata,
    RequestResult,
    VoiceInfo,
)

__all__ = [
    "Client",
    "Connector",
    "ErrorInfo",
    "HealthStatus",
    "ProviderInfo",
    "RequestFailed",
    "RequestMetadata",
    "RequestResult",
    "VoiceInfo",
]
