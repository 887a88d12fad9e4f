"""Projects: a Git repository connected to the registry, in a user's or a team's namespace.

Creating a project records it and its repository; fetching and indexing happen in the background
(services.gitsync). A repository is stored once however many projects point at it, so two teams
connecting one repository share its mirror and its index.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import secrets
import string
from dataclasses import dataclass

from modelshelf.auth.principal import Principal
from modelshelf.auth.tokens import Scope
from modelshelf.errors import Conflict, Forbidden, InvalidArgument, NotFound, shown
from modelshelf.gitindex.urls import RepoUrl
from modelshelf.services import audit
from modelshelf.services.clock import clock
from modelshelf.store import accounts, gitmodels
from modelshelf.store.gitmodels import ProjectRow, ProjectView, RepositoryRow
from modelshelf.store.repository import UniqueViolation
from modelshelf.store.session import Session

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 10
MAX_SUBDIRS = 10  # as Studio's UI: up to 10 comma-separated directories make one project each
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?")
_SEGMENT = re.compile(r"[^\x00-\x1f\x7f\\]+")


@dataclass(frozen=True)
class Created:
    projects: list[ProjectView]
    repository: RepositoryRow  # "pending" until its first fetch and index


WEBHOOK_PATH = "/api/webhooks/git/"


def project_url(base: str, view: ProjectView) -> str:
    """Where the project lives, as Studio spells it: /user/<user>/... or /team/<team>/..."""
    space = f"team/{view.team}" if view.team is not None else f"user/{view.owner or 'local'}"
    return f"{base}/{space}/projects/{view.project.name}-{view.project.id}"


def webhook_url(base: str, project_id: str) -> str:
    return f"{base}{WEBHOOK_PATH}{project_id}"


def new_project_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def check_subdirs(value: object) -> list[str]:
    """The project directories: "" for the root, or a comma-separated list of relative paths."""
    if value is None or value == "":
        return [""]
    if not isinstance(value, str):
        raise InvalidArgument("subdir must be a string")
    parts = [part.strip() for part in value.split(",")]
    if len(parts) > MAX_SUBDIRS:
        raise InvalidArgument(f"subdir lists {len(parts)} directories; at most {MAX_SUBDIRS} are allowed")
    subdirs = []
    for part in parts:
        clean = part.strip("/") if not part.startswith("/") else part
        segments = clean.split("/")
        if (
            not clean
            or clean.startswith("/")
            or len(clean) > 1000
            or any(s in ("", ".", "..") or not _SEGMENT.fullmatch(s) for s in segments)
        ):
            raise InvalidArgument(
                f"invalid subdir {shown(part)}: expected a relative path inside the repository, "
                "without '..', '.', empty parts or backslashes"
            )
        subdirs.append(posixpath.normpath(clean))
    if len(set(subdirs)) != len(subdirs):
        raise InvalidArgument("subdir lists the same directory twice")
    return subdirs


def check_name(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidArgument(
            f"invalid project name {shown(value)}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return value


def check_host(repo: RepoUrl) -> None:
    """Refuse this machine and link-local addresses (cloud metadata services) as repository hosts: a user
    must not make the server fetch from itself. An operator reaches such hosts through [[git.rewrite]]."""
    host = repo.host.strip("[]").lower()
    if repo.scheme == "file":
        return  # allowed only where the operator listed the scheme
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        internal = host == "localhost" or host.endswith(".localhost")
    else:
        internal = address.is_loopback or address.is_link_local or address.is_unspecified
    if internal:
        raise InvalidArgument(f"repository host {repo.host!r} is this server or a link-local address")


def _default_name(repo: RepoUrl, name: str | None, subdir: str, several: bool) -> str:
    base = name or re.sub(r"[^A-Za-z0-9._-]+", "-", repo.name).strip("-._") or "project"
    if subdir and (several or name is None):
        base = f"{base}-{re.sub(r'[^A-Za-z0-9._-]+', '-', subdir).strip('-._')}"
    return base[:100].strip("-._") or "project"


def create(
    conn: Session,
    repo: RepoUrl,
    *,
    subdirs: list[str],
    name: str | None,
    public: bool,
    team_name: str | None,
    actor: Principal,
    owner_name: str | None = None,
) -> Created:
    """Create one project per subdir. The caller must belong to `team_name`; `owner_name` is for the CLI,
    which acts for a user it names."""
    if actor.via != "cli":
        check_host(repo)
    owner_id = actor.user_id
    if owner_name is not None:
        owner = accounts.user_by_name(conn, owner_name)
        if owner is None:
            raise NotFound(f"user {owner_name!r} not found")
        owner_id = owner.id
    team_id = None
    if team_name is not None:
        if not isinstance(team_name, str) or not team_name:
            raise InvalidArgument("team_name must be a non-empty string")
        team_row = accounts.team_by_name(conn, team_name)
        if team_row is None or team_row.disabled:
            raise NotFound(f"team {shown(team_name)} not found")
        if (
            actor.via != "cli"
            and not is_admin(actor)
            and (owner_id is None or not gitmodels.is_team_member(conn, team_row.id, owner_id))
        ):
            raise Forbidden(f"you are not a member of team {team_name!r}")
        team_id = team_row.id
    elif owner_id is None and actor.via != "no-auth":
        raise InvalidArgument(
            "a project needs an owner: give a team, or a user (modelshelf project create --user)"
        )
    # Under --no-auth nobody is signed in: such projects share one local namespace.
    namespace = f"team:{team_id}" if team_id is not None else f"user:{owner_id or 'local'}"
    now = clock.now()

    repository = gitmodels.ensure_repository(
        conn,
        {
            "identity": repo.identity,
            "host": repo.host,
            "path": repo.path,
            "clone_url": repo.clone_url,
            "state": "pending",
            "tags_ignored": 0,
            "create_time": now,
        },
    )
    made = []
    for subdir in subdirs:
        values = {
            "id": new_project_id(),
            "name": _default_name(repo, name, subdir, len(subdirs) > 1),
            "repository_id": repository.id,
            "subdir": subdir,
            "owner_id": owner_id,
            "team_id": team_id,
            "namespace": namespace,
            "public": public,
            "webhook_secret": secrets.token_hex(32),
            "create_time": now,
        }
        try:
            row = gitmodels.add_project(conn, values)
        except UniqueViolation:
            where = f" (subdir {subdir!r})" if subdir else ""
            space = f"team {team_name!r}" if team_name else "your namespace"
            raise Conflict(f"a project for {repo.identity}{where} already exists in {space}") from None
        audit.record(conn, actor, "project.create", "project", row.id, {"repository": repo.identity})
        view = gitmodels.project(conn, row.id)
        assert view is not None
        made.append(view)
    return Created(made, repository)


def is_admin(actor: Principal) -> bool:
    return actor.may(Scope.ADMIN)


def visible_user(actor: Principal) -> int | None:
    """The user whose visibility applies to `actor`: None (everything) for admins and the CLI."""
    return None if is_admin(actor) else (actor.user_id if actor.user_id is not None else -1)


def get(conn: Session, project_id: str, actor: Principal) -> ProjectView:
    """A project the actor may see; 404 otherwise, so that a private project's existence does not leak."""
    view = (
        gitmodels.project(conn, project_id) if isinstance(project_id, str) and len(project_id) <= 64 else None
    )
    if view is None or not _may_see(conn, view.project, actor):
        raise NotFound(f"project {shown(project_id)} not found")
    return view


def _may_see(conn: Session, project: ProjectRow, actor: Principal) -> bool:
    user_id = visible_user(actor)
    if user_id is None or project.public:
        return True
    if project.team_id is not None:
        return gitmodels.is_team_member(conn, project.team_id, user_id)
    return project.owner_id == user_id


def may_manage(conn: Session, project: ProjectRow, actor: Principal) -> bool:
    """Refresh and delete: admins, the CLI, the owner of a personal project, the members of its team."""
    user_id = visible_user(actor)
    if user_id is None:
        return True
    if project.team_id is not None:
        return gitmodels.is_team_member(conn, project.team_id, user_id)
    return project.owner_id == user_id


def managed(conn: Session, project_id: str, actor: Principal) -> ProjectView:
    view = get(conn, project_id, actor)
    if not may_manage(conn, view.project, actor):
        raise Forbidden(f"only the project's owner, its team or an admin may change project {project_id!r}")
    return view


def list_visible(conn: Session, actor: Principal) -> list[ProjectView]:
    return gitmodels.projects(conn, visible_user(actor))


def delete(conn: Session, project_id: str, actor: Principal) -> RepositoryRow | None:
    """Delete a project; when it was the last on its repository, the repository's index goes too and the
    repository is returned, so that the caller removes its mirror."""
    view = managed(conn, project_id, actor)
    gitmodels.delete_project(conn, project_id)
    audit.record(conn, actor, "project.delete", "project", project_id, None)
    if gitmodels.projects_of_repository(conn, view.repository.id):
        return None
    gitmodels.delete_repository(conn, view.repository.id)
    return view.repository


def for_webhook(conn: Session, project_id: str) -> ProjectView:
    """A project by id for its push webhook, which proves itself with the project's secret, not a token."""
    view = gitmodels.project(conn, project_id) if len(project_id) <= 64 else None
    if view is None:
        raise NotFound(f"project {shown(project_id)} not found")
    return view
