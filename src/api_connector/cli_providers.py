"""``api-connector providers list|add|remove``: a project's provider instances, through the admin API.

Changes go to the running service, which validates them (catalog type, SSRF policy on ``base_url``,
stored credentials only), applies them at once and audits them. Instances from the configuration
file are listed too (``source: config``) but are changed by editing that file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from api_connector.cli_remote import DEFAULT_URL, AdminKey, AsJson, Project, Url, call_service, console
from api_connector.sdk.client import Client
from api_connector.sdk.types import ProviderInfo

providers_app = typer.Typer(help="Provider instances of a running service: list, add, remove.", no_args_is_help=True)


@providers_app.command("list")
def providers_list(
    url: Url = DEFAULT_URL, admin_key: AdminKey = None, project: Project = None, as_json: AsJson = False
) -> None:
    """The instances the project can use: the configuration file's and its own."""

    async def work(client: Client) -> list[ProviderInfo]:
        return await client.list_providers()

    found = call_service(url, admin_key, project, work)
    if as_json:
        print(json.dumps([dataclasses.asdict(p) for p in found], indent=2))
        return
    table = Table("name", "type", "source", "base url", "models", "capabilities")
    for p in found:
        table.add_row(p.name, p.type, p.source, p.base_url, ", ".join(p.models), ", ".join(p.capabilities))
    Console().print(table)


def _config(config_file: Path | None, **fields: Any) -> dict[str, Any]:
    """The instance's configuration: a YAML/JSON file ('-': stdin) overlaid with the options given."""
    config: dict[str, Any] = {}
    if config_file is not None:
        text = typer.get_text_stream("stdin").read() if str(config_file) == "-" else config_file.read_text("utf-8")
        loaded = yaml.safe_load(text)
        if not isinstance(loaded, dict):
            console.print("[red]error:[/red] the configuration file must hold a mapping")
            raise typer.Exit(2)
        config.update(loaded)
    config.update({k: v for k, v in fields.items() if v not in (None, [])})
    if "type" not in config:
        console.print("[red]error:[/red] a provider needs a type: --type or 'type:' in --config")
        raise typer.Exit(2)
    return config


@providers_app.command("add")
def providers_add(
    name: Annotated[str, typer.Argument(help="The instance's name (what callers address).")],
    type_: Annotated[str | None, typer.Option("--type", help="A catalog provider type (openai, sandbox, ...).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Override of the type's base URL.")] = None,
    credential: Annotated[str | None, typer.Option(help="A stored credential of the project (cred_<id>).")] = None,
    model: Annotated[list[str] | None, typer.Option(help="A model the instance offers (repeatable).")] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="The whole configuration as YAML or JSON ('-': stdin).")
    ] = None,
    url: Url = DEFAULT_URL,
    admin_key: AdminKey = None,
    project: Project = None,
) -> None:
    """Add a provider instance to the project (the service checks and applies it at once)."""
    config = _config(config_file, type=type_, base_url=base_url, credential=credential, models=model or [])

    async def work(client: Client) -> dict[str, Any]:
        return await client.add_provider(name, config)

    created = call_service(url, admin_key, project, work)
    console.print(f"added provider {created.get('name', name)} ({config['type']})")


@providers_app.command("remove")
def providers_remove(name: str, url: Url = DEFAULT_URL, admin_key: AdminKey = None, project: Project = None) -> None:
    """Remove one of the project's own provider instances."""

    async def work(client: Client) -> None:
        await client.remove_provider(name)

    call_service(url, admin_key, project, work)
    console.print(f"removed provider {name}")


def register(app: typer.Typer) -> None:
    """Called by ``cli.py``: adds ``providers``."""
    app.add_typer(providers_app, name="providers")
