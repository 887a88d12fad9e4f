"""SQL for Git models: projects, their repositories, and the index built from each repository's tags and
commits. Typed rows in, typed rows out; like the rest of the store, nothing here commits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, insert, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from modelshelf.store.repository import fetch_first_compiled, insert_row
from modelshelf.store.session import Session
from modelshelf.store.tables import (
    dir_manifest,
    git_artifact,
    git_commit,
    git_project,
    git_ref,
    git_repository,
    git_tag,
    team,
    team_member,
    user,
)


class RepositoryRow(NamedTuple):
    id: int
    identity: str
    host: str
    path: str
    clone_url: str
    state: str
    error: str | None
    fingerprint: str | None
    tags_ignored: int
    fetch_time: int | None
    index_time: int | None
    attempt_time: int | None
    create_time: int


class ProjectRow(NamedTuple):
    id: str
    name: str
    repository_id: int
    subdir: str
    owner_id: int | None
    team_id: int | None
    namespace: str
    public: bool
    webhook_secret: str
    create_time: int


class ProjectView(NamedTuple):
    """A project with the names its answers show: its owner's, its team's, and its repository's state."""

    project: ProjectRow
    owner: str | None
    team: str | None
    repository: RepositoryRow


class ArtifactRow(NamedTuple):
    repository_id: int
    commit: str
    name: str
    path: str
    type: str | None
    description: str | None
    labels: str
    meta: str | None
    md5: str | None
    is_dir: bool
    size: int | None
    nfiles: int | None
    legacy: bool
    output_path: str | None
    inner: str | None
    remote_url: str | None
    remote_options: str | None
    problem: str | None


class Ref(NamedTuple):
    version: str
    commit: str


# --- repositories --------------------------------------------------------------------------------------


def repository_by_identity(conn: Session, identity: str) -> RepositoryRow | None:
    row = conn.sql.execute(select(git_repository).where(git_repository.c.identity == identity)).first()
    return None if row is None else RepositoryRow(*row)


def repositories_by_paths(conn: Session, paths: Sequence[str]) -> list[RepositoryRow]:
    """Repositories whose org/repo path is one of `paths` (a short `repo=org/repo`), on any host."""
    if not paths:
        return []
    rows = conn.sql.execute(select(git_repository).where(git_repository.c.path.in_(list(paths))).limit(20))
    return [RepositoryRow(*row) for row in rows]


def repository(conn: Session, repository_id: int) -> RepositoryRow | None:
    row = conn.sql.execute(select(git_repository).where(git_repository.c.id == repository_id)).first()
    return None if row is None else RepositoryRow(*row)


def repositories(conn: Session) -> list[RepositoryRow]:
    return [RepositoryRow(*row) for row in conn.sql.execute(select(git_repository).order_by("id"))]


def ensure_repository(conn: Session, values: Mapping[str, Any]) -> RepositoryRow:
    """The repository with this identity, inserted if it is new. Two projects created at once on
    one new repository both get the one row: the loser of the race waits for the winner's commit (the
    unique index) and then reads it, instead of failing."""
    conn.sql.execute(_insert_ignoring_duplicates(conn, git_repository).values(**values))
    found = repository_by_identity(conn, values["identity"])
    assert found is not None
    return found


def update_repository(conn: Session, repository_id: int, values: Mapping[str, Any]) -> None:
    conn.sql.execute(update(git_repository).where(git_repository.c.id == repository_id).values(**values))


def delete_repository(conn: Session, repository_id: int) -> None:
    """The repository and everything indexed from it (its projects are gone already)."""
    for table in (git_artifact, git_commit, git_ref, git_tag):
        conn.sql.execute(delete(table).where(table.c.repository_id == repository_id))
    conn.sql.execute(delete(git_repository).where(git_repository.c.id == repository_id))


# --- projects ------------------------------------------------------------------------------------------


def add_project(conn: Session, values: Mapping[str, Any]) -> ProjectRow:
    """Insert a project; UniqueViolation when its repository, subdir and namespace are taken."""
    return ProjectRow(**insert_row(conn, git_project, values))


def _views() -> Any:
    owner = user.alias("owner")
    return (
        select(git_project, owner.c.name, team.c.name, git_repository)
        .join(git_repository, git_repository.c.id == git_project.c.repository_id)
        .outerjoin(owner, owner.c.id == git_project.c.owner_id)
        .outerjoin(team, team.c.id == git_project.c.team_id)
    )


def _view(row: Sequence[Any]) -> ProjectView:
    width = len(ProjectRow._fields)
    return ProjectView(ProjectRow(*row[:width]), row[width], row[width + 1], RepositoryRow(*row[width + 2 :]))


def visible_to(user_id: int | None) -> ColumnElement[bool]:
    """Projects a user may see: public ones, their own (outside a team), and their teams'. None: all."""
    if user_id is None:
        return true()
    teams = select(team_member.c.team_id).where(team_member.c.user_id == user_id)
    return or_(
        git_project.c.public,
        and_(git_project.c.team_id.is_(None), git_project.c.owner_id == user_id),
        git_project.c.team_id.in_(teams),
    )


def project(conn: Session, project_id: str) -> ProjectView | None:
    row = conn.sql.execute(_views().where(git_project.c.id == project_id)).first()
    return None if row is None else _view(row)


def projects(conn: Session, user_id: int | None) -> list[ProjectView]:
    """Every project the user may see (None: every project), oldest first."""
    query = _views().where(visible_to(user_id)).order_by(git_project.c.create_time, git_project.c.id)
    return [_view(row) for row in conn.sql.execute(query)]


def projects_of_repository(conn: Session, repository_id: int) -> list[ProjectRow]:
    query = select(git_project).where(git_project.c.repository_id == repository_id)
    return [ProjectRow(*row) for row in conn.sql.execute(query)]


def repository_visible(conn: Session, repository_id: int, user_id: int | None) -> bool:
    query = select(exists().where(git_project.c.repository_id == repository_id).where(visible_to(user_id)))
    return bool(conn.sql.execute(query).scalar_one())


def delete_project(conn: Session, project_id: str) -> None:
    conn.sql.execute(delete(git_project).where(git_project.c.id == project_id))


def is_team_member(conn: Session, team_id: int, user_id: int) -> bool:
    query = select(exists().where(team_member.c.team_id == team_id).where(team_member.c.user_id == user_id))
    return bool(conn.sql.execute(query).scalar_one())


# --- the index -----------------------------------------------------------------------------------------


def tags(conn: Session, repository_id: int) -> dict[str, tuple[str, int]]:
    """name -> (commit, time) of every tag indexed for the repository."""
    query = select(git_tag.c.name, git_tag.c.commit, git_tag.c.time).where(
        git_tag.c.repository_id == repository_id
    )
    return {name: (commit, time) for name, commit, time in conn.sql.execute(query)}


def change_tags(
    conn: Session, repository_id: int, added: Iterable[tuple[str, str, int]], removed: Iterable[str]
) -> None:
    gone = list(removed)
    for start in range(0, len(gone), 500):
        conn.sql.execute(
            delete(git_tag)
            .where(git_tag.c.repository_id == repository_id)
            .where(git_tag.c.name.in_(gone[start : start + 500]))
        )
    rows = [{"repository_id": repository_id, "name": n, "commit": c, "time": t} for n, c, t in added]
    if rows:
        conn.sql.execute(insert(git_tag), rows)


def indexed_commits(conn: Session, repository_id: int) -> set[str]:
    query = select(git_commit.c.commit).where(git_commit.c.repository_id == repository_id)
    return set(conn.sql.scalars(query))


def add_commit(
    conn: Session,
    repository_id: int,
    commit: str,
    problems: list[str],
    artifacts: list[dict[str, Any]],
    now: int,
) -> None:
    conn.sql.execute(
        insert(git_commit).values(
            repository_id=repository_id, commit=commit, problems=json.dumps(problems), index_time=now
        )
    )
    if artifacts:
        conn.sql.execute(
            insert(git_artifact), [{**a, "repository_id": repository_id, "commit": commit} for a in artifacts]
        )


def replace_refs(conn: Session, repository_id: int, refs: list[dict[str, Any]]) -> None:
    conn.sql.execute(delete(git_ref).where(git_ref.c.repository_id == repository_id))
    if refs:
        conn.sql.execute(insert(git_ref), [{**r, "repository_id": repository_id} for r in refs])


def ref(conn: Session, repository_id: int, artifact: str, kind: str, key: str) -> Ref | None:
    query = select(git_ref.c.version, git_ref.c.commit).where(
        git_ref.c.repository_id == repository_id,
        git_ref.c.artifact == artifact,
        git_ref.c.kind == kind,
        git_ref.c.key == key,
    )
    row = conn.sql.execute(query).first()
    return None if row is None else Ref(*row)


def has_artifact_refs(conn: Session, repository_id: int, artifact: str) -> bool:
    query = select(
        exists().where(git_ref.c.repository_id == repository_id).where(git_ref.c.artifact == artifact)
    )
    return bool(conn.sql.execute(query).scalar_one())


class Download(NamedTuple):
    """What the warm path of get-download-uris needs, in one row."""

    repository: RepositoryRow
    ref: Ref
    artifact: ArtifactRow


def _download_query() -> Any:
    visible = or_(
        bindparam("everyone"),
        exists()
        .where(git_project.c.repository_id == git_repository.c.id)
        .where(
            or_(
                git_project.c.public,
                and_(git_project.c.team_id.is_(None), git_project.c.owner_id == bindparam("user_id")),
                git_project.c.team_id.in_(
                    select(team_member.c.team_id).where(team_member.c.user_id == bindparam("user_id"))
                ),
            )
        ),
    )
    return (
        select(git_repository, git_ref.c.version, git_ref.c.commit, git_artifact)
        .join(git_ref, git_ref.c.repository_id == git_repository.c.id)
        .join(
            git_artifact,
            and_(
                git_artifact.c.repository_id == git_repository.c.id,
                git_artifact.c.commit == git_ref.c.commit,
                git_artifact.c.name == git_ref.c.artifact,
            ),
        )
        .where(
            git_repository.c.identity == bindparam("identity"),
            git_ref.c.artifact == bindparam("artifact"),
            git_ref.c.kind == bindparam("kind"),
            git_ref.c.key == bindparam("key"),
            visible,
        )
    )


def download(
    conn: Session, identity: str, user_id: int | None, artifact: str, kind: str, key: str
) -> Download | None:
    """The repository, the ref and the artifact of a download in one lookup through primary keys and
    unique indexes, if the user (None: anyone) may see the repository; None for anything missing, and
    the caller finds out what with the lookups above."""
    params = {
        "identity": identity,
        "everyone": user_id is None,
        "user_id": -1 if user_id is None else user_id,
        "artifact": artifact,
        "kind": kind,
        "key": key,
    }
    row = fetch_first_compiled(conn, "git-download", _download_query, params)
    if row is None:
        return None
    width = len(RepositoryRow._fields)
    return Download(RepositoryRow(*row[:width]), Ref(*row[width : width + 2]), ArtifactRow(*row[width + 2 :]))


def artifact(conn: Session, repository_id: int, commit: str, name: str) -> ArtifactRow | None:
    query = select(git_artifact).where(
        git_artifact.c.repository_id == repository_id,
        git_artifact.c.commit == commit,
        git_artifact.c.name == name,
    )
    row = conn.sql.execute(query).first()
    return None if row is None else ArtifactRow(*row)


def commit_problems(conn: Session, repository_id: int, commit: str) -> list[str]:
    query = select(git_commit.c.problems).where(
        git_commit.c.repository_id == repository_id, git_commit.c.commit == commit
    )
    text = conn.sql.execute(query).scalar()
    return list(json.loads(text)) if text else []


def manifest(conn: Session, md5: str) -> list[tuple[str, str]] | None:
    text = conn.sql.execute(select(dir_manifest.c.files).where(dir_manifest.c.md5 == md5)).scalar()
    return None if text is None else [(path, digest) for path, digest in json.loads(text)]


def put_manifest(conn: Session, md5: str, files: list[tuple[str, str]], now: int) -> None:
    """Cache a manifest; another request may have cached the same one first (the content is the same)."""
    statement = _insert_ignoring_duplicates(conn, dir_manifest)
    conn.sql.execute(statement.values(md5=md5, files=json.dumps(files), fetch_time=now))


def _insert_ignoring_duplicates(conn: Session, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()
