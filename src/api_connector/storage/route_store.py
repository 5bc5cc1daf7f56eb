"""Routes defined per project through the admin API (the configuration file's routes are not stored).

Every query is filtered by project id. The configuration is stored as validated JSON
(``config.RouteConfig``); the catalog rebuilds the project's routes from it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from api_connector.errors import NotFound
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import ProjectRow, new_id, utcnow
from api_connector.storage.routing_models import RouteRow
from api_connector.storage.validation import check_name


@dataclass(frozen=True, slots=True)
class StoredRoute:
    id: str
    project_id: str
    name: str
    config: dict[str, Any] = field(hash=False)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


class RouteStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def list(self, project_id: str) -> list[StoredRoute]:
        query = select(RouteRow).where(RouteRow.project_id == project_id).order_by(RouteRow.name)
        async with self._db.session() as session:
            return [_route(row) for row in await session.scalars(query)]

    @translate_errors
    async def put(self, project_id: str, name: str, config: dict[str, Any]) -> tuple[StoredRoute, bool]:
        """Create or replace; True when it was created."""
        name = check_name("route", name)
        now = utcnow()
        async with self._db.session() as session, session.begin():
            if await session.get(ProjectRow, project_id) is None:
                raise NotFound(f"project {project_id!r} not found")
            row = await session.scalar(_by_name(project_id, name).with_for_update())
            created = row is None
            if row is None:
                row = RouteRow(id=new_id("route"), project_id=project_id, name=name, created_at=now)
                session.add(row)
            row.config = copy.deepcopy(config)
            row.updated_at = now
        return _route(row), created

    @translate_errors
    async def delete(self, project_id: str, name: str) -> None:
        async with self._db.session() as session, session.begin():
            row = await session.scalar(_by_name(project_id, name))
            if row is None:
                raise NotFound(f"route {name!r} not found in this project")
            await session.delete(row)


def _by_name(project_id: str, name: str) -> Any:
    return select(RouteRow).where(RouteRow.project_id == project_id, RouteRow.name == name)


def _route(row: RouteRow) -> StoredRoute:
    return StoredRoute(row.id, row.project_id, row.name, copy.deepcopy(row.config), row.created_at, row.updated_at)
