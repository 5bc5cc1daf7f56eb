"""``api-connector connections refresh``: renew a running service's provider connections.

Asks the service (``POST /admin/connections/refresh``) to renew its connection pools, re-read the
providers' credentials from the vault and external stores, and probe each provider; prints each one's
status as a table (or JSON with ``--json``). With ``--strict`` it exits 1 when a provider failed, so a
rotation script can check that the new secrets work.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api_connector.cli_remote import DEFAULT_URL, AdminKey, AsJson, Project, Url, call_service
from api_connector.core.connections import FAILED, OK, ConnectionStatus
from api_connector.sdk.client import Client

connections_app = typer.Typer(help="Provider connections of a running service.", no_args_is_help=True)
_COLOURS = {OK: "green", FAILED: "red"}


def _table(statuses: list[ConnectionStatus]) -> Table:
    table = Table("provider", "project", "status", "latency ms", "error code", "error")
    for s in statuses:
        colour = _COLOURS.get(s.status, "yellow")
        table.add_row(
            s.provider,
            s.project_id or "-",
            f"[{colour}]{s.status}[/{colour}]",
            "-" if s.latency_ms is None else f"{s.latency_ms:.0f}",
            s.error_code or "-",
            s.error or "-",
        )
    return table


@connections_app.command("refresh")
def refresh(
    provider: Annotated[str | None, typer.Argument(help="Only this provider instance.")] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="Global admin keys: 'global' for the configuration file's providers, 'all' for every one."),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a provider failed.")] = False,
    url: Url = DEFAULT_URL,
    admin_key: AdminKey = None,
    project: Project = None,
    as_json: AsJson = False,
) -> None:
    """Renew connections, re-read credentials and probe every provider in the key's reach."""

    async def work(client: Client) -> list[ConnectionStatus]:
        return await client.refresh_connections(provider, scope=scope)

    statuses = call_service(url, admin_key, project, work)
    if as_json:
        print(json.dumps([s.as_json() for s in statuses], indent=2))
    else:
        Console().print(_table(statuses))
    if strict and any(s.failed for s in statuses):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Called by ``cli.py``: adds ``connections``."""
    app.add_typer(connections_app, name="connections")
