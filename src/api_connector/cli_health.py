"""``api-connector health``: provider health as a running service sees it (``GET /admin/health``).

Shows every provider the key's project can use as a table (or JSON with ``--json``) and exits 1 when
any of them is unhealthy, so the command doubles as a check in scripts and cron jobs.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api_connector.cli_remote import DEFAULT_URL, AdminKey, AsJson, Project, Url, call_service
from api_connector.sdk.client import Client
from api_connector.sdk.types import HealthStatus


def _table(reports: list[HealthStatus]) -> Table:
    table = Table("provider", "healthy", "score", "response ms", "error rate", "failures", "last checked")
    for r in reports:
        table.add_row(
            r.provider,
            "[green]yes[/green]" if r.is_healthy else "[red]no[/red]",
            f"{r.score:.2f}",
            "-" if r.response_time_ms is None else f"{r.response_time_ms:.0f}",
            f"{r.error_rate:.0%}",
            str(r.consecutive_failures),
            r.last_checked or "-",
        )
    return table


def health(
    provider: Annotated[str | None, typer.Argument(help="Only this provider.")] = None,
    url: Url = DEFAULT_URL,
    admin_key: AdminKey = None,
    project: Project = None,
    as_json: AsJson = False,
) -> None:
    """Provider health from a running service; exits 1 when any provider is unhealthy."""

    async def work(client: Client) -> list[HealthStatus]:
        return await client.check_connection_health(provider)

    reports = call_service(url, admin_key, project, work)
    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in reports], indent=2))
    else:
        Console().print(_table(reports))
    if not all(r.is_healthy for r in reports):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Called by ``cli.py``: adds ``health``."""
    app.command("health")(health)
