"""`modelshelf project create | list | show | refresh | delete`: Git-model projects, on the server's database.

Like the account commands, these run with the server's own configuration and are audited as "via cli".
`create` and `refresh` fetch and index the repository right here, so that the command ends with the
project's state (a running server sees the result at once).
"""

from __future__ import annotations

import argparse
import sys

from modelshelf.auth.principal import CLI
from modelshelf.cli.accounts import table
from modelshelf.gitindex import urls
from modelshelf.services import projects
from modelshelf.services.clock import iso
from modelshelf.services.gitsync import Syncer
from modelshelf.settings import Settings
from modelshelf.storage.signers import Signers
from modelshelf.store.gitmodels import ProjectView
from modelshelf.store.session import Database


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    project = commands.add_parser("project", help="connect Git repositories (DVC models)").add_subparsers(
        dest="action", required=True
    )
    p = project.add_parser("create", help="connect a repository, then fetch and index it")
    p.add_argument("repo_url")
    owner = p.add_mutually_exclusive_group(required=True)
    owner.add_argument("--user", help="the user whose namespace holds the project")
    owner.add_argument("--team", help="the team whose namespace holds the project")
    p.add_argument("--name", help="project name (default: the repository's name)")
    p.add_argument("--subdir", help="monorepo directory; a comma-separated list makes one project each")
    p.add_argument("--public", action="store_true", help="visible to every token with models:read")
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="do not fetch now: a running server fetches it at its next sweep or first download",
    )
    p.set_defaults(project_run=_create)
    project.add_parser("list", help="list every project").set_defaults(project_run=_list)
    for action, help_text, run in (
        ("show", "show a project, its repository's state and its webhook", _show),
        ("refresh", "fetch and index the project's repository now", _refresh),
        ("delete", "delete a project (and its repository's index when it was the last)", _delete),
    ):
        p = project.add_parser(action, help=help_text)
        p.add_argument("id")
        p.set_defaults(project_run=run)


def run(database: Database, settings: Settings, args: argparse.Namespace) -> int:
    return int(args.project_run(database, settings, args) or 0)


def _create(database: Database, settings: Settings, args: argparse.Namespace) -> int:
    repo = urls.parse_repo_url(args.repo_url, schemes=settings.git.schemes)
    subdirs = projects.check_subdirs(args.subdir)
    name = projects.check_name(args.name)
    with database.write() as conn:
        created = projects.create(
            conn,
            repo,
            subdirs=subdirs,
            name=name,
            public=args.public,
            team_name=args.team,
            actor=CLI,
            owner_name=args.user,
        )
    if not args.no_wait:
        outcome = Syncer(database, settings, Signers(settings.storage, settings.signing)).sync(
            created.repository.id
        )
        if outcome.error:
            print(f"warning: {repo.identity}: {outcome.error}", file=sys.stderr)
    for view in created.projects:
        _print(database, view.project.id, settings)
    return 0


def _list(database: Database, settings: Settings, _args: argparse.Namespace) -> int:
    with database.read() as conn:
        views = projects.list_visible(conn, CLI)
    rows = [
        [
            v.project.id,
            v.project.name,
            _namespace(v),
            v.repository.identity,
            v.project.subdir or "-",
            "public" if v.project.public else "private",
            v.repository.state,
        ]
        for v in views
    ]
    table(["ID", "NAME", "NAMESPACE", "REPOSITORY", "SUBDIR", "VISIBILITY", "STATE"], rows)
    return 0


def _show(database: Database, settings: Settings, args: argparse.Namespace) -> int:
    _print(database, args.id, settings)
    return 0


def _refresh(database: Database, settings: Settings, args: argparse.Namespace) -> int:
    with database.read() as conn:
        view = projects.get(conn, args.id, CLI)
    outcome = Syncer(database, settings, Signers(settings.storage, settings.signing)).sync(view.repository.id)
    if outcome.error:
        print(f"error: {view.repository.identity}: {outcome.error}", file=sys.stderr)
        return 1
    what = f"indexed {outcome.commits} new commit(s)" if outcome.indexed else "no new tags"
    print(f"{view.repository.identity}: fetched, {what}")
    return 0


def _delete(database: Database, settings: Settings, args: argparse.Namespace) -> int:
    with database.write() as conn:
        gone = projects.delete(conn, args.id, CLI)
    if gone is not None:
        Syncer(database, settings, Signers(settings.storage, settings.signing)).forget(gone)
    print(f"deleted project {args.id}")
    return 0


def _namespace(view: ProjectView) -> str:
    return f"team/{view.team}" if view.team else f"user/{view.owner or '-'}"


def _print(database: Database, project_id: str, settings: Settings) -> None:
    with database.read() as conn:
        view = projects.get(conn, project_id, CLI)
    project, repository = view.project, view.repository
    fields = {
        "id": project.id,
        "name": project.name,
        "url": projects.project_url(settings.effective_public_url, view),
        "namespace": _namespace(view),
        "repository": repository.identity,
        "clone url": repository.clone_url,
        "subdir": project.subdir,
        "visibility": "public" if project.public else "private",
        "state": repository.state,
        "error": repository.error,
        "tags ignored": repository.tags_ignored,
        "last fetched": iso(repository.fetch_time),
        "last indexed": iso(repository.index_time),
        "created": iso(project.create_time),
        "webhook url": projects.webhook_url(settings.effective_public_url, project.id),
        "webhook secret": project.webhook_secret,
    }
    for key, value in fields.items():
        print(f"{key + ':':16}{'-' if value in (None, '') else value}")
