"""``api-connector dlq list|show|replay|delete``: the dead-letter queue from the command line.

Runs against the same database (and Redis, for breaker state) as the service, as its operator: every
project's entries are visible. A replay goes through the full pipeline in this process (the
configuration file's providers and routes, each project's own), records its usage like any request,
and stores the outcome on the entry; the command exits 1 when the replay failed again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from api_connector.errors import ConfigError, ConnectorError
from api_connector.settings import load_settings

if TYPE_CHECKING:  # the service stack is imported by each command, to keep --help fast
    from api_connector.api.services import Services

T = TypeVar("T")
dlq_app = typer.Typer(help="Dead-letter queue: requests that failed on every target.", no_args_is_help=True)
console = Console(stderr=True)


async def _prepare(services: Services) -> None:
    """What a replay needs: the schema, the vault, every project's own providers and routes."""
    from api_connector.api.services import install_project_providers
    from api_connector.config import ProviderConfig
    from api_connector.routing.wiring import load_project_routes

    await services.database.migrate()
    _, default = await services.tenancy.ensure_default()
    services.default_project_id = default.id
    if services.vault is not None:
        await services.vault.start()
    for project in await services.tenancy.list_projects():
        stored = await services.providers.list(project.id)
        if stored:
            install_project_providers(
                services, project.id, [(p.name, ProviderConfig.model_validate(p.config)) for p in stored]
            )
    if services.routing is not None:
        await load_project_routes(services.routing, services.catalog, services.tenancy)
        await services.routing.start()
    services.writer.start()


def _run(work: Callable[[Services], Awaitable[T]]) -> T:
    from api_connector.app import build_services, shutdown

    try:
        settings = load_settings()
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc.message}")
        raise typer.Exit(2) from None

    async def run() -> T:
        services = build_services(settings)
        try:
            await _prepare(services)
            return await work(services)
        finally:
            await shutdown(services)

    try:
        return asyncio.run(run())
    except ConnectorError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None


def _store(services: Services) -> Any:
    assert services.routing is not None
    return services.routing.dead_letter_store


@dlq_app.command("list")
def dlq_list(
    project: Annotated[str | None, typer.Option(help="Only this project's entries.")] = None,
    status: Annotated[str | None, typer.Option(help="pending or replayed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
) -> None:
    """List dead letters, newest first."""

    async def work(services: Services) -> list[Any]:
        entries: list[Any] = await _store(services).list(project, status=status, limit=limit)
        return entries

    table = Table("created", "project", "kind", "target", "error", "attempts", "status", "replays")
    table.add_column("id", no_wrap=True)  # last and whole: it is what the other commands take
    for e in _run(work):
        table.add_row(
            e.created_at.isoformat(timespec="seconds"),
            e.project_id,
            e.kind,
            e.target,
            e.error_code,
            str(len(e.attempts)),
            e.status,
            str(e.replays),
            e.id,
        )
    Console().print(table)


@dlq_app.command("show")
def dlq_show(entry_id: str) -> None:
    """One dead letter: the stored request (secrets stripped) and every attempt."""
    from api_connector.api.dlq_routes import view

    async def work(services: Services) -> dict[str, Any]:
        return view(await _store(services).get(None, entry_id), full=True)

    print(json.dumps(_run(work), indent=2, ensure_ascii=False, default=str))


@dlq_app.command("replay")
def dlq_replay(entry_id: str) -> None:
    """Send a dead letter through the pipeline again; exits 1 if it fails again."""
    import uuid

    from api_connector.pipeline.replay import replay

    async def work(services: Services) -> dict[str, Any]:
        store = _store(services)
        entry = await store.get(None, entry_id)
        outcome = await replay(
            entry,
            pipeline=services.pipeline,
            catalog=services.catalog,
            store=store,
            request_id=f"cli-replay-{uuid.uuid4().hex[:16]}",
        )
        answer: dict[str, Any] = {"id": entry.id, "request_id": outcome.request_id, "outcome": outcome.outcome}
        if outcome.error is not None:
            answer["error"] = services.redactor.scrub(outcome.error.message)
        else:
            answer["data"] = outcome.data
        return json.loads(services.redactor.scrub_values(json.dumps(answer, default=str)))

    answer = _run(work)
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    if answer["outcome"] != "success":
        raise typer.Exit(1)


@dlq_app.command("delete")
def dlq_delete(entry_id: str) -> None:
    """Delete a dead letter."""

    async def work(services: Services) -> None:
        await _store(services).delete(None, entry_id)

    _run(work)
    console.print(f"deleted {entry_id}")


def register(app: typer.Typer) -> None:
    """Called by ``cli.py``: adds ``dlq`` (and ``sandbox``, the standalone sandbox server)."""
    app.add_typer(dlq_app, name="dlq")
    app.command("sandbox")(sandbox)


def sandbox(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9100,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Run the sandbox provider as a standalone HTTP server (OpenAI-compatible, fault controls)."""
    from api_connector.sandbox.server import run

    console.print(f"sandbox listening on http://{host}:{port}/v1")
    run(host, port)
