"""``api-connector credentials ...`` and ``api-connector rotate-master-key``.

Secrets are never taken as command-line arguments (the process list and shell history would keep
them): they come from a file, from standard input, or from a hidden prompt. Nothing prints a secret.
Each command runs against the same database and key ring as the service, and is audited like the
admin API (request id ``cli-...``, no gateway key).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from api_connector.errors import ConfigError, ConnectorError, UnknownProvider
from api_connector.settings import Settings, load_settings

if TYPE_CHECKING:  # the service stack is imported by each command, to keep --help fast
    from api_connector.api.services import Services

T = TypeVar("T")
credentials_app = typer.Typer(help="Stored credentials: create, list, show, rotate, disable, delete.")
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc.message}")
        raise typer.Exit(2) from None


def _run(work: Callable[[Services, Any], Awaitable[T]], project: str | None = None) -> T:
    """Build the services, run ``work(services, ctx)`` with a CLI call context, flush the audit, close."""
    from api_connector.app import build_services, shutdown
    from api_connector.core.call import Actor

    settings = _settings()

    async def run() -> T:
        services = build_services(settings)
        try:
            await services.database.migrate()
            _, default = await services.tenancy.ensure_default()
            assert services.vault is not None
            await services.vault.start()
            project_id = project or default.id
            await _install_providers(services, project_id)
            ctx = Actor(f"cli-{uuid.uuid4().hex[:16]}", project_id)
            return await work(services, ctx)
        finally:
            await shutdown(services)

    try:
        return asyncio.run(run())
    except ConnectorError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None


async def _install_providers(services: Services, project_id: str) -> None:
    """The project's own provider instances, so a credential can be verified against one of them."""
    from api_connector.config import ProviderConfig

    stored = await services.providers.list(project_id)
    from api_connector.api.services import install_project_providers

    install_project_providers(
        services, project_id, [(p.name, ProviderConfig.model_validate(p.config)) for p in stored]
    )


def _read_secret(secret_file: Path | None, as_json: bool) -> str | dict[str, Any]:
    if secret_file is not None:
        text = sys.stdin.read() if str(secret_file) == "-" else secret_file.read_text(encoding="utf-8")
    elif sys.stdin.isatty():
        text = typer.prompt("secret", hide_input=True)
    else:
        text = sys.stdin.read()
    if as_json:
        try:
            value = json.loads(text)
        except ValueError:
            console.print("[red]error:[/red] the secret is not valid JSON")
            raise typer.Exit(2) from None
        if not isinstance(value, dict):
            console.print("[red]error:[/red] a JSON secret must be an object")
            raise typer.Exit(2)
        return value
    return text.strip()


def _instance(services: Services, project_id: str, provider: str) -> Any:
    assert services.vault is not None
    try:
        found = services.catalog.instance(project_id, provider)
    except UnknownProvider:
        found = None
    return services.vault.instance_for(found, provider)


def _show(view: dict[str, Any]) -> None:
    keep = ("id", "name", "provider", "state", "masked", "current_version", "verification")
    print(json.dumps({k: view[k] for k in keep}, indent=2, ensure_ascii=False))


SecretFile = Annotated[Path | None, typer.Option("--secret-file", help="Read the secret from this file ('-': stdin).")]
AsJson = Annotated[bool, typer.Option("--json", help="The secret is a JSON object (service-account JSON).")]
Reference = Annotated[str | None, typer.Option(help="Instead of a secret: env:NAME, vault:MOUNT/PATH#FIELD, aws:ID.")]
Verify = Annotated[bool, typer.Option("--verify/--no-verify", help="Probe the provider before storing.")]
Overlap = Annotated[int | None, typer.Option(help="Seconds the previous version stays valid after a rotation.")]
Project = Annotated[str | None, typer.Option(help="Project id (default: the default project).")]


@credentials_app.command("create")
def credentials_create(
    name: str,
    provider: Annotated[str, typer.Option(help="A provider type or a provider instance of the project.")],
    project: Project = None,
    secret_file: SecretFile = None,
    as_json: AsJson = False,
    reference: Reference = None,
    verify: Verify = True,
    overlap: Overlap = None,
) -> None:
    """Store a credential (verified with the provider first unless --no-verify)."""
    from api_connector.credentials.records import Secret
    from api_connector.credentials.vault import NewSecret
    from api_connector.credentials.views import public_view

    new = (
        NewSecret(reference=reference) if reference else NewSecret(secret=Secret.of(_read_secret(secret_file, as_json)))
    )

    async def work(services: Services, ctx: Any) -> dict[str, Any]:
        assert services.vault is not None
        instance = _instance(services, ctx.project_id, provider)
        created = await services.vault.create(
            ctx, instance, name, provider, new, verify=verify, overlap_seconds=overlap
        )
        return public_view(created)

    _show(_run(work, project))


@credentials_app.command("list")
def credentials_list(project: Annotated[str | None, typer.Option(help="Only this project's.")] = None) -> None:
    """List credentials, masked (last four characters at most)."""
    from api_connector.credentials.views import public_view

    async def work(services: Services, _: Any) -> list[dict[str, Any]]:
        assert services.vault is not None
        return [public_view(c) for c in await services.vault.store.list(project)]

    table = Table("id", "project", "name", "provider", "state", "masked", "version", "verification")
    for view in _run(work):
        table.add_row(
            view["id"],
            view["project_id"],
            view["name"],
            view["provider"],
            view["state"],
            view["masked"],
            str(view["current_version"]),
            str(view["verification"]),
        )
    Console().print(table)


@credentials_app.command("show")
def credentials_show(credential_id: str) -> None:
    """A credential's metadata and versions (never the secret)."""
    from api_connector.credentials.views import public_view

    async def work(services: Services, _: Any) -> dict[str, Any]:
        assert services.vault is not None
        return public_view(await services.vault.store.get(None, credential_id))

    print(json.dumps(_run(work), indent=2, ensure_ascii=False))


@credentials_app.command("rotate")
def credentials_rotate(
    credential_id: str,
    secret_file: SecretFile = None,
    as_json: AsJson = False,
    reference: Reference = None,
    verify: Verify = True,
    overlap: Overlap = None,
) -> None:
    """Add a new version; the previous one stays valid for the overlap window."""
    from api_connector.credentials.records import Secret
    from api_connector.credentials.vault import NewSecret
    from api_connector.credentials.views import public_view

    new = (
        NewSecret(reference=reference) if reference else NewSecret(secret=Secret.of(_read_secret(secret_file, as_json)))
    )

    async def work(services: Services, ctx: Any) -> dict[str, Any]:
        assert services.vault is not None
        existing = await services.vault.store.get(None, credential_id)
        actor = dataclasses.replace(ctx, project_id=existing.project_id)
        await _install_providers(services, existing.project_id)
        instance = _instance(services, existing.project_id, existing.provider) if verify else None
        rotated = await services.vault.rotate(
            actor, instance, credential_id, new, verify=verify, overlap_seconds=overlap
        )
        return public_view(rotated)

    _show(_run(work))


def _change(credential_id: str, action: str) -> None:
    from api_connector.credentials.views import public_view

    async def work(services: Services, ctx: Any) -> dict[str, Any]:
        assert services.vault is not None
        if action == "delete":
            return public_view(await services.vault.delete(ctx, None, credential_id))
        return public_view(await services.vault.set_enabled(ctx, None, credential_id, action == "enable"))

    view = _run(work)
    console.print(f"{action}d {view['id']} ({view['name']})")


@credentials_app.command("disable")
def credentials_disable(credential_id: str) -> None:
    """Stop using a credential (requests naming it fail at once in this process)."""
    _change(credential_id, "disable")


@credentials_app.command("enable")
def credentials_enable(credential_id: str) -> None:
    """Use a disabled credential again."""
    _change(credential_id, "enable")


@credentials_app.command("delete")
def credentials_delete(
    credential_id: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False
) -> None:
    """Delete a credential and every version of it."""
    if not yes:
        typer.confirm(f"delete {credential_id} and all its versions?", abort=True)
    _change(credential_id, "delete")


def rotate_master_key(
    resume: Annotated[bool, typer.Option(help="Only re-wrap what an interrupted run left (no new key).")] = False,
    status: Annotated[
        bool, typer.Option(help="Show the key ring and the rows under each key; change nothing.")
    ] = False,
    retire: Annotated[str | None, typer.Option(help="Retire this master key id (destroys its material).")] = None,
    force: Annotated[bool, typer.Option(help="With --retire: even if rows are still under it.")] = False,
    batch_size: Annotated[int, typer.Option(help="Rows re-wrapped per transaction.")] = 200,
    pause: Annotated[float, typer.Option(help="Seconds to wait between batches (room for traffic).")] = 0.0,
) -> None:
    """Add a new primary master key and re-wrap every data key under it, online and resumable."""
    from api_connector.credentials import rotation

    async def work(services: Services, ctx: Any) -> int:
        assert services.vault is not None
        store = services.vault.store
        if status:
            return _print_status(await rotation.status(store))
        if retire:
            left = await rotation.retire(store, retire, force=force)
            await _audit_ring(services, ctx, "master_key.retire", retire, rows_left=left)
            console.print(f"retired {retire}" + (f"; {left} rows under it are now unreadable" if left else ""))
            return 0

        def progress(done: int, failed: int) -> None:
            console.print(f"re-wrapped {done} data keys" + (f", {failed} unreadable" if failed else ""))

        report = await rotation.rotate_master_key(
            store, new_key=not resume, batch_size=batch_size, progress=progress, pause=pause
        )
        await _audit_ring(services, ctx, "master_key.rotate", report.primary, rewrapped=report.rewrapped)
        console.print(f"primary master key: {report.primary}; re-wrapped {report.rewrapped} data keys")
        for row in report.unreadable:
            console.print(f"[red]unreadable:[/red] {row.credential_id} v{row.version} ({row.reason})")
        for key_id, rows in report.remaining.items():
            console.print(f"still under {key_id}: {rows} rows (run again with --resume)")
        return 1 if report.unreadable else 0

    raise typer.Exit(_run(work))


async def _audit_ring(services: Services, ctx: Any, action: str, key_id: str, **details: Any) -> None:
    await services.recorder.audit(
        request_id=ctx.request_id,
        actor_key_id=None,
        project_id=None,
        action=action,
        target_type="master_key",
        target_id=key_id,
        details=details,
    )


def _print_status(keys: list[Any]) -> int:
    table = Table("master key", "root key", "created", "state", "rows", "problem")
    unreadable = 0
    for entry in keys:
        info = entry.key
        state = "primary" if info.primary else ("retired" if info.retired_at else "active")
        table.add_row(
            info.id, info.root_key_id, info.created_at.isoformat(), state, str(entry.rows), info.problem or ""
        )
        if info.problem and entry.rows:
            unreadable += entry.rows
    Console().print(table)
    if unreadable:
        console.print(f"[red]{unreadable} credential versions cannot be decrypted with the configured keys[/red]")
    return 1 if unreadable else 0


def register(app: typer.Typer) -> None:
    """Called by ``cli.py``: adds ``credentials`` and ``rotate-master-key``."""
    app.add_typer(credentials_app, name="credentials")
    app.command("rotate-master-key")(rotate_master_key)
