"""Organizations and projects: the tenancy every other row hangs from."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api_connector.errors import Conflict, NotFound
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import OrganizationRow, ProjectRow, new_id, utcnow
from api_connector.storage.records import Organization, Project
from api_connector.storage.validation import check_name

DEFAULT_NAME = "default"


class TenancyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def ensure_default(self) -> tuple[Organization, Project]:
        """The "default" organization and its "default" project, created on first call.

        Race-safe without locks: every replica may try the insert at start-up; the unique constraint
        lets exactly one win and the others read the winner's row.
        """
        org = await self._find_org(DEFAULT_NAME)
        if org is None:
            try:
                org = await self._insert_org(DEFAULT_NAME)
            except IntegrityError:
                org = await self._find_org(DEFAULT_NAME)
                if org is None:
                    raise
        project = await self._find_project(org.id, DEFAULT_NAME)
        if project is None:
            try:
                project = await self._insert_project(org.id, DEFAULT_NAME)
            except IntegrityError:
                project = await self._find_project(org.id, DEFAULT_NAME)
                if project is None:
                    raise
        return org, project

    @translate_errors
    async def create_organization(self, name: str) -> Organization:
        name = check_name("organization", name)
        try:
            return await self._insert_org(name)
        except IntegrityError:
            raise Conflict(f"an organization named {name!r} already exists") from None

    @translate_errors
    async def get_organization(self, org_id: str) -> Organization:
        async with self._db.session() as session:
            row = await session.get(OrganizationRow, org_id)
        if row is None:
            raise NotFound(f"organization {org_id!r} not found")
        return _org(row)

    @translate_errors
    async def list_organizations(self) -> list[Organization]:
        async with self._db.session() as session:
            rows = await session.scalars(select(OrganizationRow).order_by(OrganizationRow.name))
            return [_org(row) for row in rows]

    @translate_errors
    async def create_project(self, org_id: str, name: str) -> Project:
        name = check_name("project", name)
        await self.get_organization(org_id)
        try:
            return await self._insert_project(org_id, name)
        except IntegrityError:
            # Either the name is taken or the organization vanished since the check above.
            await self.get_organization(org_id)
            raise Conflict(f"a project named {name!r} already exists in this organization") from None

    @translate_errors
    async def get_project(self, project_id: str) -> Project:
        async with self._db.session() as session:
            row = await session.get(ProjectRow, project_id)
        if row is None:
            raise NotFound(f"project {project_id!r} not found")
        return _project(row)

    @translate_errors
    async def list_projects(self, org_id: str | None = None) -> list[Project]:
        """Projects of one organization (NotFound if it does not exist), or of all of them."""
        if org_id is not None:
            await self.get_organization(org_id)
        query = select(ProjectRow).order_by(ProjectRow.organization_id, ProjectRow.name)
        if org_id is not None:
            query = query.where(ProjectRow.organization_id == org_id)
        async with self._db.session() as session:
            return [_project(row) for row in await session.scalars(query)]

    async def _find_org(self, name: str) -> Organization | None:
        async with self._db.session() as session:
            row = await session.scalar(select(OrganizationRow).where(OrganizationRow.name == name))
        return _org(row) if row is not None else None

    async def _find_project(self, org_id: str, name: str) -> Project | None:
        query = select(ProjectRow).where(ProjectRow.organization_id == org_id, ProjectRow.name == name)
        async with self._db.session() as session:
            row = await session.scalar(query)
        return _project(row) if row is not None else None

    async def _insert_org(self, name: str) -> Organization:
        row = OrganizationRow(id=new_id("org"), name=name, created_at=utcnow())
        async with self._db.session() as session, session.begin():
            session.add(row)
        return _org(row)

    async def _insert_project(self, org_id: str, name: str) -> Project:
        row = ProjectRow(id=new_id("proj"), organization_id=org_id, name=name, created_at=utcnow())
        async with self._db.session() as session, session.begin():
            session.add(row)
        return _project(row)


def _org(row: OrganizationRow) -> Organization:
    return Organization(id=row.id, name=row.name, created_at=row.created_at)


def _project(row: ProjectRow) -> Project:
    return Project(id=row.id, organization_id=row.organization_id, name=row.name, created_at=row.created_at)
