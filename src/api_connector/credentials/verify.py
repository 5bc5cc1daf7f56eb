"""Verify before storing: run the provider's declared probe with the candidate secret.

The probe (``ProviderSpec.probe``: listing models, a whoami endpoint, ...) costs nothing at the
provider. It goes through the same machinery as any request (``Dispatcher.prepare`` for the URL and
headers, ``Transport`` for the call, ``routing.classify`` for the verdict), with the candidate secret
applied by the provider's own auth scheme. Three outcomes:

* ``valid``: the provider answered one of the probe's success statuses;
* ``rejected``: the provider refused (a failure that retrying cannot fix); its reason is kept;
* ``unverified: unreachable``: no verdict (connection failed, timed out, the provider was failing or
  rate limiting): never reported as valid.

The provider's reason is scrubbed of the candidate before it is kept or shown: careless providers
quote the key they were sent.
"""

from __future__ import annotations

import dataclasses
import time

from api_connector.core.call import Actor, Call
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Outbound
from api_connector.credentials.records import Secret, Verification
from api_connector.errors import UpstreamError
from api_connector.observability.redaction import MASK, Redactor
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.catalog import ProviderInstance, Target
from api_connector.routing.classify import classify_status
from api_connector.routing.exchange import Upstreams
from api_connector.transport.http import Timeouts

VALID = "valid"
REJECTED = "rejected"
UNREACHABLE = "unverified: unreachable"
SKIPPED = "unverified: skipped"
NO_PROBE = "unverified: no probe"
# A probe is a cheap call: it must not hold an admin request for a provider's full timeout.
_PROBE_TIMEOUTS = Timeouts(connect=5.0, read=10.0, total=10.0)


class Verifier:
    def __init__(self, upstreams: Upstreams, redactor: Redactor) -> None:
        self._upstreams = upstreams
        self._redactor = redactor

    async def verify(self, actor: Actor, instance: ProviderInstance, secret: Secret) -> Verification:
        probe = instance.spec.probe
        if probe is None or not instance.base_url:
            return Verification(NO_PROBE, f"provider {instance.name!r} declares no verification probe")
        if secret.kind != "text":
            return Verification(NO_PROBE, "JSON secrets are not sent as-is, so no probe can check them")
        # The instance's own credential reference, if any, must not be resolved: the candidate is tried.
        target = Target(dataclasses.replace(instance, credential=None, timeouts=_capped(instance.timeouts)), "")
        call = Call(
            actor.request_id,
            actor.project_id,
            actor.key_id,
            Capability.REQUESTS,
            time.perf_counter(),
            retries=0,
            forward_headers=actor.forward_headers,
        )
        exchange = self._upstreams.exchange(call, AttemptLog(), target, secret=secret.value)
        try:
            response = await exchange.send(Outbound(probe.path, method=probe.method))
        except UpstreamError as error:
            return Verification(UNREACHABLE, self._scrub(error.message, secret))
        if response.status in probe.ok_statuses:
            return Verification(VALID)
        endpoint = instance.spec.endpoints.get(Capability.CHAT)
        vendor = endpoint.wire.decode_error(response.body) if endpoint and endpoint.wire else None
        failure = classify_status(response.status, vendor, response.headers, provider=instance.name)
        reason = self._scrub(f"{failure.message} (HTTP {response.status})", secret)
        return Verification(UNREACHABLE if failure.retryable else REJECTED, reason)

    def _scrub(self, text: str, secret: Secret) -> str:
        own = Redactor()
        own.add(secret.value)
        # Short secrets are below the redactor's threshold; they are masked here all the same.
        return self._redactor.scrub(own.scrub(text).replace(secret.value, MASK))


def _capped(timeouts: Timeouts) -> Timeouts:
    return Timeouts(
        connect=min(timeouts.connect, _PROBE_TIMEOUTS.connect),
        read=min(timeouts.read, _PROBE_TIMEOUTS.read),
        total=min(timeouts.total, _PROBE_TIMEOUTS.total),
    )
