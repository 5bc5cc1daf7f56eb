"""What a caller can address: provider instances and routes, resolved once into lookup tables.

Configuration is turned into these objects at start-up (and when the admin API changes it), so the
request path does one dictionary lookup to find where a model name leads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from api_connector.config import GatewayConfig, ProviderConfig, RouteConfig, Strategy
from api_connector.core.capabilities import Capability
from api_connector.errors import UnknownModel, UnknownProvider
from api_connector.providers import REGISTRY
from api_connector.providers.spec import ProviderSpec
from api_connector.transport.http import Timeouts

SANDBOX = "sandbox"


@dataclass(frozen=True, slots=True)
class ProviderInstance:
    """A configured provider: a catalog spec plus where, with which credential, under which limits."""

    name: str
    spec: ProviderSpec
    base_url: str
    credential: str | None
    timeouts: Timeouts
    headers: tuple[tuple[str, str], ...] = ()
    max_connections: int = 100
    models: tuple[str, ...] = ()
    project_id: str | None = None  # None: from the configuration file, visible to every project
    config: ProviderConfig | None = None

    @property
    def pool(self) -> str:
        return f"{self.project_id or '*'}:{self.name}"

    @classmethod
    def from_config(cls, name: str, config: ProviderConfig, project_id: str | None = None) -> ProviderInstance:
        spec = REGISTRY[config.type]
        t = config.timeouts()
        return cls(
            name=name,
            spec=spec,
            base_url=(config.base_url or spec.base_url or "").rstrip("/"),
            credential=config.credential,
            timeouts=Timeouts(connect=t.connect, read=t.read, total=t.total),
            headers=tuple(config.headers.items()),
            max_connections=config.max_connections,
            models=tuple(config.models) or spec.models,
            project_id=project_id,
            config=config,
        )


@dataclass(frozen=True, slots=True)
class Target:
    instance: ProviderInstance
    model: str
    weight: float = 1.0
    priority: int = 0
    # A model named by the caller ("<instance>/<anything>") rather than by configuration.
    ad_hoc: bool = False

    @property
    def label_model(self) -> str:
        """The model as a metric label: configured names only, so callers cannot grow the series."""
        return "other" if self.ad_hoc else self.model

    @property
    def key(self) -> str:
        """Stable identity of this target for breakers, health and latency tracking."""
        return f"{self.instance.pool}/{self.model}"


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    strategy: Strategy
    targets: tuple[Target, ...]
    _capable: dict[Capability, tuple[Target, ...]] = field(default_factory=dict, compare=False, repr=False)

    def capable(self, capability: Capability) -> tuple[Target, ...]:
        """The targets that offer ``capability``, in configured order (worked out once per route)."""
        found = self._capable.get(capability)
        if found is None:
            found = self._capable[capability] = tuple(t for t in self.targets if t.instance.spec.supports(capability))
        return found


@dataclass(slots=True)
class _Scope:
    instances: dict[str, ProviderInstance] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    # Bare model names (``gpt-4o-mini``) that a configured instance advertises.
    advertised: dict[str, Route] = field(default_factory=dict)


def _sandbox() -> ProviderInstance:
    return ProviderInstance.from_config(SANDBOX, ProviderConfig(type=SANDBOX))


class Catalog:
    """Global instances from the file, plus per-project ones from the admin API, layered by project."""

    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._global = _Scope()
        self._projects: dict[str, _Scope] = {}
        self._direct_routes: dict[tuple[str, str], Route] = {}
        # Caller headers any provider wants forwarded (the sandbox's fault controls), lower-case.
        self.passthrough_prefixes: tuple[str, ...] = tuple(
            sorted({prefix for spec in REGISTRY.values() for prefix in spec.passthrough_header_prefixes})
        )
        self._build_global()

    def _build_global(self) -> None:
        scope = _Scope(instances={SANDBOX: _sandbox()})
        for name, pconf in self._config.providers.items():
            scope.instances[name] = ProviderInstance.from_config(name, pconf)
        for name, rconf in self._config.routes.items():
            scope.routes[name] = self._route(name, rconf, scope.instances)
        self._advertise(scope)
        self._global = scope

    @staticmethod
    def _route(name: str, rconf: RouteConfig, instances: dict[str, ProviderInstance]) -> Route:
        targets = tuple(
            Target(instances[t.provider], t.model, t.weight, t.priority)
            for t in sorted(rconf.targets, key=lambda t: t.priority)
        )
        return Route(name, rconf.strategy, targets)

    @staticmethod
    def _advertise(scope: _Scope) -> None:
        for instance in scope.instances.values():
            for model in instance.models:
                if model not in scope.advertised:
                    scope.advertised[model] = Route(model, Strategy.PRIORITY, (Target(instance, model),))

    def set_project_providers(self, project_id: str, providers: Iterable[tuple[str, ProviderConfig]]) -> None:
        """Replace one project's own instances (called at start-up and after admin changes)."""
        scope = _Scope()
        for name, pconf in providers:
            scope.instances[name] = ProviderInstance.from_config(name, pconf, project_id)
        self._advertise(scope)
        self._projects[project_id] = scope
        self._direct_routes.clear()  # they may point at instances that were just replaced

    def instances(self, project_id: str | None) -> list[ProviderInstance]:
        merged = dict(self._global.instances)
        if project_id and project_id in self._projects:
            merged.update(self._projects[project_id].instances)
        return list(merged.values())

    def instance(self, project_id: str | None, name: str) -> ProviderInstance:
        own = self._projects.get(project_id or "")
        found = (own.instances.get(name) if own else None) or self._global.instances.get(name)
        if found is None:
            raise UnknownProvider(f"no provider named {name!r}", param="provider")
        return found

    def routes(self) -> dict[str, Route]:
        return dict(self._global.routes)

    def resolve(self, project_id: str | None, model: str) -> Route:
        """A route name, ``<instance>/<model>``, or a model some instance advertises."""
        own = self._projects.get(project_id or "")
        route = self._global.routes.get(model)
        if route is not None:
            return route
        instance_name, slash, upstream_model = model.partition("/")
        if slash and upstream_model:
            candidate = (own.instances.get(instance_name) if own else None) or self._global.instances.get(instance_name)
            if candidate is not None:
                return self._direct(candidate, model, upstream_model)
        advertised = (own.advertised.get(model) if own else None) or self._global.advertised.get(model)
        if advertised is not None:
            return advertised
        raise UnknownModel(
            f"The model {model!r} does not exist or you do not have access to it: name a route, "
            "'<provider>/<model>', or a model listed by GET /v1/models",
            param="model",
        )

    def _direct(self, instance: ProviderInstance, name: str, model: str) -> Route:
        """A one-target route for "<instance>/<model>", remembered while the set of them stays small."""
        key = (instance.pool, model)
        route = self._direct_routes.get(key)
        if route is None:
            route = Route(name, Strategy.PRIORITY, (Target(instance, model, ad_hoc=model not in instance.models),))
            if len(self._direct_routes) < 10_000:
                self._direct_routes[key] = route
        return route

    def model_ids(self, project_id: str | None) -> list[tuple[str, str]]:
        """(model id, owner) pairs for ``GET /v1/models``: routes first, then every instance's models."""
        ids: list[tuple[str, str]] = [(name, "api-connector") for name in self._global.routes]
        for instance in self.instances(project_id):
            ids.extend((f"{instance.name}/{m}", instance.name) for m in instance.models)
        return ids
