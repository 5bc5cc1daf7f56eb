"""AssemblyAI: pre-recorded transcription as a job (upload, submit, poll) and live transcription
(Universal-Streaming v3, a WebSocket on its streaming host), key in ``Authorization`` as it is (no
scheme). Route targets name the speech model (``universal``, ``slam-1``; live: ``universal-streaming-english``,
``universal-streaming-multilingual``, ...); the EU region is the instance's ``base_url``
``https://api.eu.assemblyai.com`` (its streaming host ``streaming.eu.assemblyai.com`` follows)."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.assemblyai_live import ASSEMBLYAI_LIVE, STREAMING_MODELS
from api_connector.wire.assemblyai_transcript import ASSEMBLYAI_TRANSCRIPT, TRANSCRIPT_PATH

SPEC = ProviderSpec(
    type="assemblyai",
    title="AssemblyAI",
    base_url="https://api.assemblyai.com",
    auth=AuthScheme(kind=AuthKind.HEADER, name="Authorization", prefix=""),
    endpoints={
        # The job is submitted here; the wire uploads first (/v2/upload) and polls below it.
        Capability.TRANSCRIPTION: Endpoint(path=TRANSCRIPT_PATH, wire=ASSEMBLYAI_TRANSCRIPT, default_model="universal"),
        # A WebSocket on the streaming host beside the REST one (api. -> streaming.): live_transcription.
        Capability.LIVE_TRANSCRIPTION: Endpoint(
            path="/v3/ws",
            wire=ASSEMBLYAI_LIVE,
            method="GET",
            default_model="universal-streaming-english",
            sibling_host=("api", "streaming"),
        ),
    },
    linked_origins=("https://streaming.assemblyai.com", "https://streaming.eu.assemblyai.com"),
    # Listing the account's transcripts is free and fails with 401 on a bad key.
    probe=HealthProbe(path=TRANSCRIPT_PATH),
    models=("universal", "slam-1", "best", "nano", *STREAMING_MODELS),
    docs_url="https://www.assemblyai.com/docs/api-reference/transcripts/submit",
)
