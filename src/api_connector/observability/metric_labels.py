"""Which provider, model and target names a metric label may carry.

Whoever scrapes ``/metrics`` (often a monitoring stack shared by many teams) reads every label, so by
default a label names only what the operator configured: the file's provider instances, their models
and the models of the file's routes. A project's own instance shows as ``project`` and a model no
operator configured as ``other`` (which also keeps the number of series bounded whatever projects add).
``METRICS_PROJECT_LABELS=true`` turns the names back on, for an operator whose scrapers may see them.

Per-request series are labelled by instance name alone (that is what the recorder has), so a project
instance that shares its name with one of the file's is counted under that name: the series mix, but
no name a project chose reaches a label. Gauges read from pool keys (breakers, health) tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from prometheus_client.metrics import MetricWrapperBase

PROJECT = "project"  # a project's own instance
OTHER = "other"  # a model no operator configured (also what ad-hoc models are labelled)

M = TypeVar("M", bound=MetricWrapperBase)


class MetricLabels:
    """The label policy: names the operator configured pass, any other becomes a neutral value."""

    __slots__ = ("_models", "_providers", "project_labels")

    def __init__(self, providers: Iterable[str], models: Iterable[str], *, project_labels: bool = False) -> None:
        # "none" is the provider label of a request that reached no provider; "" the model of one.
        self._providers = frozenset(providers) | {"none"}
        self._models = frozenset(models) | {"", OTHER}
        self.project_labels = project_labels

    def provider(self, name: str) -> str:
        return name if self.project_labels or name in self._providers else PROJECT

    def model(self, name: str) -> str:
        return name if self.project_labels or name in self._models else OTHER

    def pool(self, pool: str) -> str:
        """An instance's pool key (``<project id or *>:<name>``) as its provider label."""
        owner, _, name = pool.partition(":")
        if self.project_labels or owner == "*":
            return name
        return PROJECT

    def target(self, key: str) -> str:
        """A breaker's target key (``<pool>/<model>[#<credential>]``) as its label. Without project
        labels the credential reference is left out too: a project route's names the project's own."""
        if self.project_labels:
            return key
        pool, _, rest = key.partition("/")  # instance names have no "/"; models may
        model = rest.partition("#")[0]
        owner = pool.partition(":")[0]
        return f"{self.pool(pool)}/{self.model(model) if owner == '*' else OTHER}"


class Labelled(Generic[M]):
    """A metric whose first label (and the one at ``model_at``) pass the policy: ``first`` maps a
    provider name, a pool key or a target key to its label, by what the metric is keyed on.

    Only ``labels`` is offered: every series of the metric is made through it, so none escapes the
    policy. Per-request series are looked up once and cached by their callers: nothing per request.
    """

    __slots__ = ("_first", "_metric", "_model", "_model_at")

    def __init__(
        self, metric: M, first: Callable[[str], str], model: Callable[[str], str] | None = None, model_at: int = 1
    ) -> None:
        self._metric = metric
        self._first = first
        self._model = model
        self._model_at = model_at

    def labels(self, first: str, *rest: str) -> M:
        if self._model is None:
            return self._metric.labels(self._first(first), *rest)
        values = list(rest)
        values[self._model_at - 1] = self._model(values[self._model_at - 1])
        return self._metric.labels(self._first(first), *values)
