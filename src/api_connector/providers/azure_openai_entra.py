"""Azure OpenAI reached as a service principal: the same resource, deployments and shapes as
``azure_openai``, with a Microsoft Entra ID token instead of a key.

The credential is a JSON secret ``{"tenant_id", "client_id", "client_secret"}`` (``auth.entra``),
traded for a token for ``https://cognitiveservices.azure.com/.default``, sent as a bearer token.
"""

from dataclasses import replace

from api_connector.auth.entra import EntraClientCredentials
from api_connector.providers.azure_openai import SPEC as AZURE_OPENAI

SPEC = replace(AZURE_OPENAI, type="azure_openai_entra", title="Azure OpenAI (Entra ID)", auth=EntraClientCredentials())
