"""What a caller can address: provider instances and routes, resolved once into lookup tables.

Configuration is turned into these objects at start-up (and when the admin API changes it), so the
request path does one dictionary lookup to find where a model name leads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from api_connector.config import GatewayConfig, ProviderConfig, RouteConfig, Strategy, TargetConfig
from api_connector.core.capabilities import Capability
from api_connector.errors import UnknownModel, UnknownProvider
from api_connector.providers import REGISTRY
from api_connector.providers.spec import ProviderSpec
from api_connector.routing.pricing import UNKNOWN, Price, model_facts
from api_connector.transport.http import Timeouts

if TYPE_CHECKING:
    from api_connector.routing.strategies import Needs

SANDBOX = "sandbox"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProviderInstance:
    """A configured provider: a catalog spec plus where, with which credential, under which limits."""

    name: str
    spec: ProviderSpec
    base_url: str
    credential: str | None
    timeouts: Timeouts
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()  # sent with every call, over the endpoint's declared ones
    max_connections: int = 100
    models: tuple[str, ...] = ()
    project_id: str | None = None  # None: from the configuration file, visible to every project
    config: ProviderConfig | None = None
    # Worked out once, read on every call: the connection pool's name (also the health and breaker
    # identity) and the spec's headers with the instance's own over them.
    pool: str = field(init=False, compare=False)
    base_headers: dict[str, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pool", f"{self.project_id or '*'}:{self.name}")
        object.__setattr__(self, "base_headers", {**self.spec.headers, **dict(self.headers)})

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
            query=tuple(config.query.items()),
            max_connections=config.max_connections,
            models=tuple(config.models) or spec.models,
            project_id=project_id,
            config=config,
        )


@dataclass(frozen=True, slots=True)
class Features:
    """What a target can take; None: not known, so assumed able (the provider's answer will tell)."""

    context_window: int | None = None
    tools: bool | None = None
    vision: bool | None = None
    streaming: bool | None = None


ANY = Features()


@dataclass(frozen=True, slots=True)
class Target:
    instance: ProviderInstance
    model: str
    weight: float = 1.0
    priority: int = 0
    # A model named by the caller ("<instance>/<anything>") rather than by configuration.
    ad_hoc: bool = False
    credential_ref: str | None = None  # the route's own credential for this target, else the instance's
    max_in_flight: int | None = None
    features: Features = ANY
    price: Price | None = None
    route_project: str | None = None  # the project whose route this target belongs to (None: the file's)
    # Stable identity for breakers, latency and load tracking; worked out once.
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # Ad-hoc models share their instance's key, so callers cannot grow the set of breakers.
        key = f"{self.instance.pool}/{'*' if self.ad_hoc else self.model}"
        if self.credential_ref is not None:
            key += f"#{self.credential_ref}"
        object.__setattr__(self, "key", key)

    @property
    def label_model(self) -> str:
        """The model as a metric label: configured names only, so callers cannot grow the series."""
        return "other" if self.ad_hoc else self.model

    @property
    def credential(self) -> str | None:
        return self.credential_ref if self.credential_ref is not None else self.instance.credential

    @property
    def credential_owner(self) -> str | None:
        """The project a stored credential must belong to: the route's for its own, else the instance's."""
        return self.route_project if self.credential_ref is not None else self.instance.project_id

    def accepts(self, needs: Needs) -> bool:
        """Whether this target can take the request: capabilities it lacks rule it out before any call."""
        features = self.features
        if features is ANY:
            return True
        if needs.stream and features.streaming is False:
            return False
        if features.tools is False and needs.tools():
            return False
        if features.vision is False and needs.vision():
            return False
        return features.context_window is None or needs.tokens() <= features.context_window

    @classmethod
    def from_config(cls, instance: ProviderInstance, config: TargetConfig, project_id: str | None = None) -> Target:
        wanted = config.features
        facts = UNKNOWN
        if config.price is None or wanted.context_window is None:
            facts = model_facts(instance.base_url, config.model)
        features = Features(
            context_window=wanted.context_window or facts.context_window,
            tools=wanted.tools,
            vision=wanted.vision,
            streaming=wanted.streaming,
        )
        price = Price(config.price.input_per_mtok, config.price.output_per_mtok) if config.price else facts.price
        return cls(
            instance,
            config.model,
            config.weight,
            config.priority,
            credential_ref=config.credential,
            max_in_flight=config.limits.max_in_flight,
            features=ANY if features == ANY else features,
            price=price,
            route_project=project_id,
        )


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    strategy: Strategy
    targets: tuple[Target, ...]
    project_id: str | None = None  # None: from the configuration file
    stale_if_error: int | None = None  # seconds a cached answer may stand in when every target fails
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
    # A project's routes as stored (admin API): rebuilt whenever the instances they name change.
    route_configs: dict[str, RouteConfig] = field(default_factory=dict)
    # Bare model names (``gpt-4o-mini``) that a configured instance advertises.
    advertised: dict[str, Route] = field(default_factory=dict)


def _sandbox() -> ProviderInstance:
    return ProviderInstance.from_config(SANDBOX, ProviderConfig(type=SANDBOX))


class Catalog:
    """Global instances and routes from the file, plus per-project ones from the admin API."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._global = _Scope()
        self._projects: dict[str, _Scope] = {}
        self._direct_routes: dict[tuple[str, str], Route] = {}
        # Whether some route sets stale_if_error (the cache layer then looks a request's route up).
        self.stale_routes = any(r.stale_if_error is not None for r in config.routes.values())
        # Whether an instance serves a model (its live list: ``routing.model_lists``); None: not checked.
        self.offers: Callable[[ProviderInstance, str], bool] | None = None
        # Caller headers any provider wants forwarded (the sandbox's fault controls), lower-case.
        self.passthrough_prefixes: tuple[str, ...] = tuple(
            sorted({prefix for spec in REGISTRY.values() for prefix in spec.passthrough_header_prefixes})
        )
        self._build_global()

    def _build_global(self) -> None:
        scope = _Scope(instances={SANDBOX: _sandbox()})
        for name, pconf in self.config.providers.items():
            scope.instances[name] = ProviderInstance.from_config(name, pconf)
        for name, rconf in self.config.routes.items():
            scope.routes[name] = self._route(name, rconf, scope.instances)
        self._advertise(scope)
        self._global = scope

    @staticmethod
    def _route(
        name: str, rconf: RouteConfig, instances: dict[str, ProviderInstance], project_id: str | None = None
    ) -> Route:
        targets = tuple(
            Target.from_config(instances[t.provider], t, project_id)
            for t in sorted(rconf.targets, key=lambda t: t.priority)
            if t.provider in instances
        )
        return Route(name, rconf.strategy, targets, project_id, rconf.stale_if_error)

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
        old = self._projects.get(project_id)
        scope.route_configs = old.route_configs if old else {}
        self._build_project_routes(project_id, scope)
        self._projects[project_id] = scope
        self._direct_routes.clear()  # they may point at instances that were just replaced

    def set_project_routes(self, project_id: str, routes: Iterable[tuple[str, RouteConfig]]) -> None:
        """Replace one project's own routes (admin API); they may name its instances and the global ones."""
        scope = self._projects.setdefault(project_id, _Scope())
        scope.route_configs = dict(routes)
        self._build_project_routes(project_id, scope)
        if any(r.stale_if_error is not None for _, r in scope.route_configs.items()):
            self.stale_routes = True
        self._direct_routes.clear()  # whether a direct model is "configured" may have changed

    def _build_project_routes(self, project_id: str, scope: _Scope) -> None:
        instances = {**self._global.instances, **scope.instances}
        built: dict[str, Route] = {}
        for name, rconf in scope.route_configs.items():
            route = self._route(name, rconf, instances, project_id)
            if len(route.targets) < len(rconf.targets):
                log.warning("route %s of project %s names providers that no longer exist", name, project_id)
            if route.targets:
                built[name] = route
        scope.routes = built

    def project_ids(self) -> list[str]:
        """Projects that have their own instances or routes (the health monitor checks theirs too)."""
        return list(self._projects)

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

    def routes(self, project_id: str | None = None) -> dict[str, Route]:
        """The configuration file's routes, overlaid with ``project_id``'s own when given."""
        merged = dict(self._global.routes)
        own = self._projects.get(project_id or "")
        if own is not None:
            merged.update(own.routes)
        return merged

    def resolve(self, project_id: str | None, model: str) -> Route:
        """A route name (the project's first), ``<instance>/<model>``, or a model some instance advertises."""
        own = self._projects.get(project_id or "")
        route = (own.routes.get(model) if own else None) or self._global.routes.get(model)
        if route is not None:
            return route
        instance_name, slash, upstream_model = model.partition("/")
        if slash and upstream_model:
            candidate = (own.instances.get(instance_name) if own else None) or self._global.instances.get(instance_name)
            if candidate is not None:
                if self.offers is not None and not self.offers(candidate, upstream_model):
                    raise UnknownModel(
                        f"The provider {instance_name!r} does not offer the model {upstream_model!r} (its list: "
                        f"GET /admin/providers/{instance_name}/models)",
                        param="model",
                    )
                return self._direct(candidate, model, upstream_model)
        advertised = (own.advertised.get(model) if own else None) or self._global.advertised.get(model)
        if advertised is not None:
            return advertised
        raise UnknownModel(
            f"The model {model!r} does not exist or you do not have access to it: name a route, "
            "'<provider>/<model>', or a model listed by GET /v1/models",
            param="model",
        )

    def single(self, instance: ProviderInstance) -> Route:
        """A one-target route to ``instance`` itself (the generic request API names the provider)."""
        key = (instance.pool, "")
        route = self._direct_routes.get(key)
        if route is None or route.targets[0].instance is not instance:
            route = Route(instance.name, Strategy.PRIORITY, (Target(instance, ""),))
            if len(self._direct_routes) < 10_000:
                self._direct_routes[key] = route
        return route

    def _direct(self, instance: ProviderInstance, name: str, model: str) -> Route:
        """A one-target route for "<instance>/<model>", remembered while the set of them stays small."""
        key = (instance.pool, model)
        route = self._direct_routes.get(key)
        if route is None:
            # A model that a route names is configured, not ad hoc: "<instance>/<model>" then shares its
            # breaker, latency and metric series with that route's target.
            known = model in instance.models or self._routed_model(instance, model)
            route = Route(name, Strategy.PRIORITY, (Target(instance, model, ad_hoc=not known),))
            if len(self._direct_routes) < 10_000:
                self._direct_routes[key] = route
        return route

    def _routed_model(self, instance: ProviderInstance, model: str) -> bool:
        scopes = [
            self._global,
            *([self._projects[instance.project_id]] if instance.project_id in self._projects else []),
        ]
        return any(
            t.instance.pool == instance.pool and t.model == model
            for scope in scopes
            for route in scope.routes.values()
            for t in route.targets
        )

    def target_keys(self, project_id: str | None) -> set[str]:
        """The breaker and load keys of every target ``project_id`` can reach (with None: the file's
        alone): its routes' targets and its instances addressed directly. Another project's keys name
        that project's instances, models and credentials, so a project's read shows only these."""
        keys: set[str] = set()
        for route in self.routes(project_id).values():
            for target in route.targets:
                keys.add(target.key)
                keys.add(f"{target.instance.pool}/{target.model}")  # the same model addressed directly
        for instance in self.instances(project_id):
            keys.add(f"{instance.pool}/*")  # ad-hoc models share one key per instance
            keys.update(f"{instance.pool}/{model}" for model in instance.models)
        return keys
