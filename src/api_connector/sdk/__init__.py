"""The Python SDK: ``Client`` talks to a running service, ``Connector`` runs the same pipeline in-process."""

from api_connector.core.connections import ConnectionStatus
from api_connector.sdk.client import Client
from api_connector.sdk.connector import Connector
from api_connector.sdk.types import (
    ConnectionsFailed,
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
    "ConnectionStatus",
    "ConnectionsFailed",
    "Connector",
    "ErrorInfo",
    "HealthStatus",
    "ProviderInfo",
    "RequestFailed",
    "RequestMetadata",
    "RequestResult",
    "VoiceInfo",
]
