"""Provider instances configured per project through the admin API.

Every query is filtered by project id, so one project can never read, change or even detect
another project's instances.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api_connector.errors import Conflict, NotFound, ValidationFailed
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import ProjectRow, ProviderInstanceRow, new_id, utcnow
from api_connector.storage.records import ProviderInstance
from api_connector.storage.validation import check_name

ProviderInstances = list[ProviderInstance]  # `list` is shadowed by the method name inside the class


class ProviderStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def create(self, project_id: str, name: str, type: str, config: dict[str, Any]) -> ProviderInstance:
        name = check_name("provider instance", name)
        type_ = check_name("provider type", type)
        now = utcnow()
        row = ProviderInstanceRow(
            id=new_id("prov"),
            project_id=project_id,
            name=name,
            type=type_,
            config=_checked_config(config),
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.session() as session, session.begin():
                if await session.get(ProjectRow, project_id) is None:
                    raise NotFound(f"project {project_id!r} not found")
                session.add(row)
        except IntegrityError:
            raise Conflict(f"a provider instance named {name!r} already exists in this project") from None
        return _instance(row)

    @translate_errors
    async def get(self, project_id: str, name: str) -> ProviderInstance:
        async with self._db.session() as session:
            row = await session.scalar(_by_name(project_id, name))
        if row is None:
            raise _not_found(name)
        return _instance(row)

    @translate_errors
    async def list(self, project_id: str) -> ProviderInstances:
        query = (
            select(ProviderInstanceRow)
            .where(ProviderInstanceRow.project_id == project_id)
            .order_by(ProviderInstanceRow.name)
        )
        async with self._db.session() as session:
            return [_instance(row) for row in await session.scalars(query)]

    @translate_errors
    async def update(self, project_id: str, name: str, config: dict[str, Any]) -> ProviderInstance:
        """Replace the instance's configuration (the type stays; delete and re-create to change it)."""
        checked = _checked_config(config)
        async with self._db.session() as session, session.begin():
            row = await session.scalar(_by_name(project_id, name).with_for_update())
            if row is None:
                raise _not_found(name)
            row.config = checked
            row.updated_at = utcnow()
        return _instance(row)

    @translate_errors
    async def delete(self, project_id: str, name: str) -> None:
        async with self._db.session() as session, session.begin():
            row = await session.scalar(_by_name(project_id, name))
            if row is None:
                raise _not_found(name)
            await session.delete(row)


def _by_name(project_id: str, name: str) -> Any:
    return select(ProviderInstanceRow).where(
        ProviderInstanceRow.project_id == project_id, ProviderInstanceRow.name == name
    )


def _not_found(name: str) -> NotFound:
    return NotFound(f"provider instance {name!r} not found")


def _checked_config(config: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ValidationFailed("provider config must be a JSON object", param="config")
    # Round-trip through JSON: proves the value is storable on both backends (PostgreSQL rejects NaN)
    # and copies it, so later mutation of the caller's dict cannot leak into the stored row.
    try:
        return json.loads(json.dumps(config, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"provider config is not valid JSON: {exc}", param="config") from None


def _instance(row: ProviderInstanceRow) -> ProviderInstance:
    return ProviderInstance(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        type=row.type,
        config=copy.deepcopy(row.config),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
