"""What the commands that talk to a running service share: where it is, the admin key, error handling.

``health`` must ask the running service (health lives in its memory), and ``providers`` goes through
its admin API so that a change takes effect in the service at once, validated and audited like any
admin call. Both use the SDK's ``Client``. The key comes from ``--admin-key`` or
``API_CONNECTOR_ADMIN_KEY`` (never echoed); exit codes: 2 for usage, 1 when the service refused or
could not be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import aiohttp
import typer
from rich.console import Console

from api_connector.sdk.client import Client
from api_connector.sdk.types import RequestFailed

T = TypeVar("T")
console = Console(stderr=True)

Url = Annotated[str, typer.Option("--url", envvar="API_CONNECTOR_URL", help="The running service (API_CONNECTOR_URL).")]
AdminKey = Annotated[
    str | None,
    typer.Option(
        "--admin-key",
        envvar="API_CONNECTOR_ADMIN_KEY",
        help="An admin gateway key (API_CONNECTOR_ADMIN_KEY).",
        show_default=False,
    ),
]
Project = Annotated[str | None, typer.Option(help="Project id, for a global admin key (default: the default project).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DEFAULT_URL = "http://127.0.0.1:9004"


def call_service(url: str, admin_key: str | None, project: str | None, work: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``work`` with a client of the service; its failures become one clear line and an exit code."""
    if not admin_key:
        console.print("[red]error:[/red] an admin key is needed: --admin-key or API_CONNECTOR_ADMIN_KEY")
        raise typer.Exit(2)

    async def run() -> T:
        async with Client(url, admin_key, timeout=30, project_id=project) as client:
            return await work(client)

    try:
        return asyncio.run(run())
    except RequestFailed as failed:
        console.print(f"[red]error:[/red] the service answered {failed.status}: {failed.error.message}", soft_wrap=True)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        console.print(f"[red]error:[/red] cannot reach the service at {url}: {type(exc).__name__}")
    raise typer.Exit(1)
