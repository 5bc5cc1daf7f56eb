"""AWS Bedrock, signed with SigV4: chat through the Converse API (``bedrock``), translated from and to the
OpenAI shape, and rerank on the agent runtime (``bedrock_agent``), another host of the same service.

The credential is a JSON access key pair (``auth.sigv4``). The region is the one in the base URL
(``https://bedrock-runtime.<region>.amazonaws.com``): an instance in another region sets ``base_url``.
Chat models are Bedrock model ids, inference profiles (``us.amazon.nova-pro-v1:0``) or their ARNs; each
goes in the path as one percent-encoded segment, as AWS's SDKs send it. Rerank models are ARNs
(``arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0``), which name their region.
"""

from api_connector.auth.sigv4 import SigV4
from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, ProviderSpec
from api_connector.wire.bedrock_converse import BedrockConverseWire
from api_connector.wire.bedrock_rerank import BEDROCK_RERANK

SPEC = ProviderSpec(
    type="bedrock",
    title="AWS Bedrock",
    base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
    # The runtime and the agent runtime both sign as the "bedrock" service; a host that names no region
    # (a proxy) is signed for the default base URL's.
    auth=SigV4(service="bedrock", default_region="us-east-1"),
    endpoints={
        Capability.CHAT: Endpoint(
            path="/model/{model}/converse",
            stream_path="/model/{model}/converse-stream",
            # Converse keeps no end user's id: ``user`` (for the vendor's abuse monitoring) is left out.
            wire=BedrockConverseWire(drops=frozenset({"user"})),
            model_segment=True,
        ),
    },
    # No free call proves a key on the runtime endpoint (listing models is another service's).
    probe=None,
    models=(
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "us.amazon.nova-pro-v1:0",
        "us.amazon.nova-lite-v1:0",
        "us.amazon.nova-micro-v1:0",
        "us.meta.llama4-maverick-17b-instruct-v1:0",
    ),
    docs_url="https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html",
)

# Rerank runs on the agent runtime, in the regions that host reranker models (not us-east-1).
AGENT_SPEC = ProviderSpec(
    type="bedrock_agent",
    title="AWS Bedrock Agent Runtime",
    base_url="https://bedrock-agent-runtime.us-west-2.amazonaws.com",
    auth=SigV4(service="bedrock", default_region="us-west-2"),
    endpoints={Capability.RERANK: Endpoint(path="/rerank", wire=BEDROCK_RERANK)},
    probe=None,
    # Model ARNs name a region: the instance lists the ones of its own (``models``).
    models=(),
    docs_url="https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent-runtime_Rerank.html",
)
