"""AssemblyAI: pre-recorded transcription as a job (upload, submit, poll), key in ``Authorization`` as
it is (no scheme). Route targets name the speech model (``universal``, ``slam-1``); the EU region is the
instance's ``base_url`` ``https://api.eu.assemblyai.com``."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.assemblyai_transcript import ASSEMBLYAI_TRANSCRIPT, TRANSCRIPT_PATH

SPEC = ProviderSpec(
    type="assemblyai",
    title="AssemblyAI",
    base_url="https://api.assemblyai.com",
    auth=AuthScheme(kind=AuthKind.HEADER, name="Authorization", prefix=""),
    endpoints={
        # The job is submitted here; the wire uploads first (/v2/upload) and polls below it.
        Capability.TRANSCRIPTION: Endpoint(path=TRANSCRIPT_PATH, wire=ASSEMBLYAI_TRANSCRIPT, default_model="universal"),
    },
    # Listing the account's transcripts is free and fails with 401 on a bad key.
    probe=HealthProbe(path=TRANSCRIPT_PATH),
    models=("universal", "slam-1", "best", "nano"),
    docs_url="https://www.assemblyai.com/docs/api-reference/transcripts/submit",
)
