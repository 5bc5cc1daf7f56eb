"""Whose data an admin read may show, decided here for every ``GET /admin/...`` handler.

A project's key reads its own project and nothing else, whatever it names. A global admin key reads
the project it names (``x-project-id`` header or ``?project=``), every project and the rows that belong
to none (``?scope=all``), or only the rows that belong to no project (``?scope=global``: operator events
such as a master-key rotation). Naming nothing, it gets the route's default: the default project for a
project's data, everything for the operator-wide views (budgets, routing state, alerts, keys, limits,
cache stats, projects).

Handlers never look at the principal or those parameters themselves: they ask for the scope and filter
by it (``shows``), or hand its project to a store (``project`` / ``project_or_every``). Two reads
decide by the key alone and need no scope: the organizations list (global admins only) and a limit
read by its subject's id (404 unless the key reaches the subject).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

from api_connector.api.context import PROJECT_HEADER
from api_connector.api.services import PRINCIPAL, SERVICES
from api_connector.auth.authenticator import Principal
from api_connector.errors import PermissionDenied, ValidationFailed

SCOPE_PARAM = "scope"
PROJECT_PARAM = "project"


class Reach(StrEnum):
    PROJECT = "project"  # one project's rows
    ALL = "all"  # every project's rows and the rows of none
    GLOBAL = "global"  # only the rows that belong to no project


@dataclass(frozen=True, slots=True)
class ReadScope:
    reach: Reach
    project_id: str | None = None  # set exactly when reach is PROJECT

    @property
    def every(self) -> bool:
        return self.reach is Reach.ALL

    @property
    def unowned_only(self) -> bool:
        return self.reach is Reach.GLOBAL

    def shows(self, owner: str | None) -> bool:
        """Whether a row of ``owner`` (a project id; None: no project) is in this read."""
        if self.reach is Reach.ALL:
            return True
        if self.reach is Reach.GLOBAL:
            return owner is None
        return owner == self.project_id

    def shows_subject(self, kind: str, subject_id: str, key_owners: dict[str, str | None]) -> bool:
        """For rows about a project or a gateway key (budgets and their alerts): a key counts as its
        project's. A key the store does not know has no known owner: only a read of everything shows it."""
        if self.every:
            return True
        if kind == "project":
            return self.shows(subject_id)
        return subject_id in key_owners and self.shows(key_owners[subject_id])

    def project(self) -> str:
        """The one project of a read that is kept per project (providers, routes, credentials, ...)."""
        if self.project_id is None:
            raise ValidationFailed(
                f"scope={self.reach.value} is not offered here: this read is per project "
                f"(name one with the {PROJECT_HEADER} header)",
                param=SCOPE_PARAM,
            )
        return self.project_id

    def project_or_every(self) -> str | None:
        """For stores that read one project or all of them (None); their rows always have a project,
        so a read of the rows of no project is refused rather than answered with a misleading nothing."""
        if self.every:
            return None
        if self.unowned_only:
            raise ValidationFailed(
                "scope=global is not offered here: every row of it belongs to a project", param=SCOPE_PARAM
            )
        return self.project_id


def read_scope(request: web.Request, *, default_all: bool = False, named: str | None = None) -> ReadScope:
    """The scope of this admin read (see the module's docstring); ``default_all`` is the route's default
    for a global admin who names nothing; ``named`` a project the route takes under a name of its own."""
    principal: Principal = request[PRINCIPAL]
    asked = request.query.get(SCOPE_PARAM) or None
    if asked is not None and asked not in Reach.__members__.values():
        raise ValidationFailed("scope must be project, all or global", param=SCOPE_PARAM)
    named = named or request.query.get(PROJECT_PARAM) or None
    if principal.project_id is not None:
        # A project key: its own project, always. Asking for more is refused, not quietly narrowed,
        # so a caller never mistakes its own project's rows for everyone's.
        if asked in (Reach.ALL, Reach.GLOBAL):
            raise PermissionDenied(f"only a global admin key can read scope={asked}")
        if named is not None and named != principal.project_id:
            raise PermissionDenied("this key cannot reach that project")
        return ReadScope(Reach.PROJECT, principal.project_id)
    if not principal.is_global_admin:  # a global key without the admin scope never reaches /admin
        raise PermissionDenied("only an admin key can read this")
    if asked in (Reach.ALL, Reach.GLOBAL):
        return ReadScope(Reach(asked))
    named = named or request.headers.get(PROJECT_HEADER) or None
    if named is not None:
        return ReadScope(Reach.PROJECT, named)
    if default_all and asked is None:
        return ReadScope(Reach.ALL)
    return ReadScope(Reach.PROJECT, request.app[SERVICES].default_project_id)


async def key_owners(request: web.Request, scope: ReadScope) -> dict[str, str | None]:
    """Each gateway key's project (None: a global key), for rows that name a key; none are needed for a
    read of everything."""
    if scope.every:
        return {}
    # A project's read needs only its own keys: any other key is then one of no known (visible) owner.
    keys = await request.app[SERVICES].keys.list(scope.project_id)
    return {key.id: key.project_id for key in keys}
