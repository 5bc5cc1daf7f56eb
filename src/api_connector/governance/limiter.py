"""Which limits apply to a request, and the reservation that is settled when it ends.

With no limits configured ``admit`` answers None at once (no hashing, no await, no store): the
default path pays nothing. Rules of a subject are built once and kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api_connector.config import ProviderConfig, RateLimitConfig
from api_connector.errors import LimitExceeded, RateLimited
from api_connector.governance.ratelimit import LimitStore, Rule, rules_for
from api_connector.governance.settings_model import LimitsConfig, LimitSpec


@dataclass(slots=True)
class Reservation:
    """What one request took; ``finish`` gives back concurrency and settles tokens with real usage."""

    store: LimitStore
    rules: tuple[Rule, ...]
    estimated_tokens: int
    headers: dict[str, str]
    done: bool = False

    async def finish(self, actual_tokens: int | None) -> None:
        if self.done:
            return
        self.done = True
        settle: list[Rule] = []
        deltas: list[float] = []
        for rule in self.rules:
            if rule.kind == "c":
                settle.append(rule)
                deltas.append(-1)
            elif rule.tokens and actual_tokens is not None and actual_tokens != self.estimated_tokens:
                settle.append(rule)
                deltas.append(actual_tokens - self.estimated_tokens)
        if settle:
            await self.store.settle(settle, deltas)


class CallerLimiter:
    def __init__(self, config: LimitsConfig, store: LimitStore) -> None:
        self._config = config
        self._store = store
        self._rules: dict[tuple[str | None, str], tuple[Rule, ...]] = {}
        self._provider_rules: dict[str, tuple[Rule, ...]] = {}
        self.active = bool(config.keys or config.projects or (config.default_key and not config.default_key.empty()))

    def rules(self, key_id: str | None, project_id: str) -> tuple[Rule, ...]:
        found = self._rules.get((key_id, project_id))
        if found is None:
            burst = self._config.burst
            spec = self._config.keys.get(key_id or "") or (self._config.default_key if key_id else None)
            found = rules_for(f"key:{key_id}", spec, burst) if key_id else ()
            found += rules_for(f"project:{project_id}", self._config.projects.get(project_id), burst)
            if len(self._rules) < 100_000:  # subjects come from stored keys, but stay bounded anyway
                self._rules[(key_id, project_id)] = found
        return found

    async def admit(self, key_id: str | None, project_id: str, estimated_tokens: int) -> Reservation | None:
        if not self.active:
            return None
        rules = self.rules(key_id, project_id)
        if not rules:
            return None
        return await self._take(rules, estimated_tokens, "this key or project")

    async def _take(self, rules: tuple[Rule, ...], tokens: int, who: str) -> Reservation:
        costs = [float(tokens) if r.tokens else 1.0 for r in rules]
        verdict = await self._store.acquire(rules, costs)
        headers = verdict.headers(rules)
        if not verdict.allowed:
            retry_after = max(0.001, verdict.retry_after_ms / 1000)
            raise LimitExceeded(f"rate limit of {who} reached", retry_after=retry_after, headers=headers)
        return Reservation(self._store, rules, tokens, headers)

    def _provider(self, subject: str, config: RateLimitConfig) -> tuple[Rule, ...]:
        rules = self._provider_rules.get(subject)
        if rules is None:
            spec = LimitSpec(
                requests_per_minute=config.requests_per_minute,
                requests_per_hour=config.requests_per_hour,
                tokens_per_minute=config.tokens_per_minute,
            )
            rules = self._provider_rules[subject] = rules_for(f"provider:{subject}", spec, self._config.burst)
        return rules

    async def charge_provider_tokens(self, subject: str, config: ProviderConfig | None, tokens: int) -> None:
        """Tokens a provider credential served, charged after the call (attempts reserve none): once
        the minute's tokens are used up, the next attempt is refused and routing goes elsewhere."""
        if config is None or config.rate_limit is None or not config.rate_limit.tokens_per_minute:
            return
        rules = tuple(r for r in self._provider(subject, config.rate_limit) if r.tokens)
        await self._store.settle(rules, [float(tokens)] * len(rules))

    async def admit_provider(self, subject: str, name: str, config: RateLimitConfig, tokens: int) -> None:
        """A provider credential's own quota, taken per attempt; refusal makes routing fail over."""
        rules = self._provider(subject, config)
        if not rules:
            return
        costs: Sequence[float] = [float(tokens) if r.tokens else 1.0 for r in rules]
        verdict = await self._store.acquire(rules, costs)
        if not verdict.allowed:
            raise RateLimited(
                f"provider {name!r} is at its configured rate limit",
                provider=name,
                retry_after=verdict.retry_after_ms / 1000,
            )
