"""A provider credential's limits as every attempt needs them, worked out once per target.

Before each attempt ``Governance.before_attempt`` needs the credential's rules, and whether any is
charged by tokens (then the request's estimate is needed) or is a concurrency slot. These depend on
the target's instance, its credential and the instance's ``rate_limit``; they are kept per target key
and rebuilt when a target of another instance, credential or ``rate_limit`` object asks (the admin API
builds new instances when it changes a provider; ``RateLimitConfig`` is frozen, so an object's limits
never change under it). The rules themselves come from ``CallerLimiter.provider_rules``, whose rate
state is keyed by the credential and the limit, so targets sharing a credential share its limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from api_connector.governance.ratelimit import Rule

if TYPE_CHECKING:
    from api_connector.config import RateLimitConfig
    from api_connector.governance.limiter import CallerLimiter
    from api_connector.routing.catalog import ProviderInstance, Target

# Target keys are bounded by configuration (routes, instances, direct routes); the bound only keeps a
# pathological catalog from growing the table without end.
_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CredentialLimits:
    """The limits one target's credential applies to each attempt."""

    # What they were built from: a target of another instance, credential or rate_limit rebuilds them.
    instance: ProviderInstance
    credential_ref: str | None
    limits: RateLimitConfig
    rules: tuple[Rule, ...]
    rates: tuple[Rule, ...]  # without concurrency: for a call outside a scope, where no slot comes back
    tokens: bool  # some rule is charged by tokens: the request's estimate is reserved
    slots: bool  # some rule is a concurrency slot: its holder is named


def subject(target: Target) -> str:
    """A provider credential: the instance's pool and the credential reference the target uses."""
    return f"{target.instance.pool}#{target.credential_ref or target.instance.credential or '-'}"


class CredentialLimitsTable:
    """``CredentialLimits`` per target key, each built on its first use."""

    __slots__ = ("_entries", "_limiter")

    def __init__(self, limiter: CallerLimiter) -> None:
        self._limiter = limiter
        self._entries: dict[str, CredentialLimits] = {}

    def get(self, target: Target, limits: RateLimitConfig) -> CredentialLimits:
        """The limits of ``target``'s credential; ``limits`` is its instance's ``rate_limit``."""
        found = self._entries.get(target.key)
        if (
            found is not None
            and found.limits is limits
            and found.instance is target.instance
            and found.credential_ref == target.credential_ref
        ):
            return found
        rules = self._limiter.provider_rules(subject(target), limits)
        found = CredentialLimits(
            instance=target.instance,
            credential_ref=target.credential_ref,
            limits=limits,
            rules=rules,
            rates=tuple(r for r in rules if r.kind != "c"),
            tokens=any(r.tokens for r in rules),
            slots=any(r.kind == "c" for r in rules),
        )
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[target.key] = found
        return found
