"""The ``api-connector`` command line: serve, migrate, and manage gateway keys (the other commands: cli_*.py)."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
import sys
import tempfile
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from api_connector.cli_connections import register as register_connection_commands
from api_connector.cli_credentials import register as register_credential_commands
from api_connector.cli_dlq import register as register_dlq_commands
from api_connector.cli_health import register as register_health_commands
from api_connector.cli_providers import register as register_provider_commands
from api_connector.errors import ConfigError, ConnectorError
from api_connector.settings import Settings, load_settings

app = typer.Typer(help="api-connector: one gateway to every external API.", no_args_is_help=True)
keys_app = typer.Typer(help="Gateway keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
register_credential_commands(app)
register_dlq_commands(app)
register_health_commands(app)
register_connection_commands(app)
register_provider_commands(app)
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc.message}")
        raise typer.Exit(2) from None


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # optional speed-up; the standard loop works too
        return
    uvloop.install()


async def _tune_gc(_: object) -> None:
    """After start-up: move what lives for the whole process out of the collector's view, and collect
    the young generation less often. Requests allocate many short-lived objects; with the default
    thresholds the collector ran every few requests and cost about a tenth of the throughput."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _run_worker(settings: Settings) -> None:
    from aiohttp import web

    from api_connector.app import create_app
    from api_connector.observability.logging import configure_logging
    from api_connector.observability.redaction import Redactor

    _install_uvloop()
    redactor = Redactor()
    configure_logging(settings.log_level, settings.service_name, redactor)
    try:
        application = create_app(settings, redactor=redactor)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc.message}")
        raise SystemExit(2) from None
    application.on_startup.append(_tune_gc)
    web.run_app(
        application,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        reuse_port=settings.workers > 1,
    )


async def _prepare(settings: Settings) -> None:
    from api_connector.app import build_services, prepare_storage, shutdown

    services = build_services(settings)
    try:
        await prepare_storage(services, announce=sys.stdout)
    finally:
        await shutdown(services)


def _metrics_dir(settings: Settings) -> Settings:
    """Prometheus multiprocess mode for the workers: a fresh directory they all write their samples to.

    prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is imported, so it goes into the environment
    the spawned workers inherit (and into their settings, for the /metrics handler).
    """
    directory = settings.prometheus_multiproc_dir or Path(tempfile.mkdtemp(prefix="api-connector-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # samples of an earlier run must not add to this one's totals
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return settings.model_copy(update={"prometheus_multiproc_dir": directory})


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PORT, default 9004).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes sharing the port (WORKERS).")] = None,
) -> None:
    """Run the service (migrates the database first)."""
    settings = _settings(host=host, port=port, workers=workers)
    if settings.workers > 1 or settings.prometheus_multiproc_dir is not None:
        settings = _metrics_dir(settings)  # before anything imports prometheus_client
    try:
        asyncio.run(_prepare(settings))
    except ConnectorError as exc:
        console.print(f"[red]cannot start:[/red] {exc.message}")
        raise typer.Exit(1) from None
    if settings.prometheus_multiproc_dir is not None:
        from prometheus_client import multiprocess

        # The start-up work ran here and set gauges; this process serves nothing, so they must not count.
        multiprocess.mark_process_dead(os.getpid(), str(settings.prometheus_multiproc_dir))
    console.print(
        f"api-connector listening on http://{settings.host}:{settings.port} "
        f"({settings.workers} worker{'s' if settings.workers > 1 else ''})"
    )
    if settings.workers == 1:
        _run_worker(settings)
        return
    # Workers share one listening socket (SO_REUSEPORT) so the kernel spreads connections among them.
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_run_worker, args=(settings,), daemon=False) for _ in range(settings.workers)]
    for proc in procs:
        proc.start()
    running: dict[int, BaseProcess] = {proc.sentinel: proc for proc in procs}
    try:
        _supervise(running, settings.prometheus_multiproc_dir)
    except KeyboardInterrupt:
        for worker in running.values():
            worker.terminate()
        _supervise(running, settings.prometheus_multiproc_dir)


def _supervise(running: dict[int, BaseProcess], metrics_dir: Path | None) -> None:
    """Wait for the workers; as each one exits, drop its live gauges from the multiprocess directory, or a
    scrape would go on showing a dead worker's queue depths and health (its counters stay: they count)."""
    from prometheus_client import multiprocess

    while running:
        for sentinel in wait(list(running)):
            proc = running.pop(cast(int, sentinel))  # wait() gives back the sentinels it was given
            proc.join()
            if metrics_dir is not None:
                multiprocess.mark_process_dead(proc.pid, str(metrics_dir))
            if proc.exitcode not in (0, -signal.SIGINT, -signal.SIGTERM):
                console.print(f"[red]worker {proc.pid} exited with code {proc.exitcode}[/red]")


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest revision."""
    from api_connector.storage.db import Database

    settings = _settings()

    async def run() -> str | None:
        database = Database.from_settings(settings)
        try:
            await database.migrate()
            return await database.current_revision()
        finally:
            await database.close()

    revision = asyncio.run(run())
    console.print(f"database at revision {revision}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="A name to recognise the key by.")],
    project: Annotated[str | None, typer.Option(help="Project id (default: the default project).")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="inference, requests, admin (repeatable).")] = None,
    global_key: Annotated[bool, typer.Option("--global", help="An admin key for every project.")] = False,
) -> None:
    """Create a gateway key and print its plaintext once."""
    from api_connector.app import build_services, shutdown

    settings = _settings()

    async def run() -> tuple[str, str]:
        services = build_services(settings)
        try:
            await services.database.migrate()
            _, default = await services.tenancy.ensure_default()
            project_id = None if global_key else (project or default.id)
            key, plaintext = await services.keys.create(project_id, name, scope or ["inference", "requests"])
            return key.id, plaintext
        finally:
            await shutdown(services)

    try:
        key_id, plaintext = asyncio.run(run())
    except ConnectorError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(f"created {key_id}; the key (shown once):")
    print(plaintext)


@keys_app.command("list")
def keys_list(project: Annotated[str | None, typer.Option(help="Only this project's keys.")] = None) -> None:
    """List keys (never their plaintext)."""
    from api_connector.app import build_services, shutdown

    settings = _settings()

    async def run() -> list[tuple[str, str, str, str, str]]:
        services = build_services(settings)
        try:
            await services.database.migrate()
            rows = await services.keys.list(project)
            return [
                (
                    k.id,
                    k.name,
                    k.project_id or "(global)",
                    ",".join(sorted(k.scopes)),
                    "revoked" if k.revoked_at else "active",
                )
                for k in rows
            ]
        finally:
            await shutdown(services)

    table = Table("id", "name", "project", "scopes", "state")
    for row in asyncio.run(run()):
        table.add_row(*row)
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key; requests with it fail from now on (other replicas within KEY_CACHE_TTL seconds)."""
    from api_connector.app import build_services, shutdown

    settings = _settings()

    async def run() -> None:
        services = build_services(settings)
        try:
            await services.database.migrate()
            await services.keys.revoke(key_id)
        finally:
            await shutdown(services)

    try:
        asyncio.run(run())
    except ConnectorError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(f"revoked {key_id}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


if __name__ == "__main__":
    main()
