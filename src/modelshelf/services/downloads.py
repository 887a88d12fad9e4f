"""get-download-uris: a model name and a version, a stage or "latest" → `{path-in-repo: signed URL}`.

The warm path reads the index and signs: no Git, no network. The one network call a request may make is
fetching a directory's `.dir` manifest that indexing could not prefetch; it is cached by its md5 (the
content is checked against it), so it happens once per directory version.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass

from modelshelf.auth.principal import Principal
from modelshelf.errors import InvalidArgument, NotFound, RegistryError, Unavailable, shown
from modelshelf.gitindex import dvcfiles
from modelshelf.gitindex.urls import LookupKey
from modelshelf.services import projects
from modelshelf.services.clock import clock
from modelshelf.storage.base import Signer
from modelshelf.storage.signers import Signers
from modelshelf.store import gitmodels
from modelshelf.store.gitmodels import ArtifactRow, RepositoryRow
from modelshelf.store.session import Database, Session

MAX_PARAM = 1024
MANIFEST_MAX_BYTES = 64 * 1024 * 1024
MANIFEST_TIMEOUT_S = 3.0  # inside the dvc client's 5-second read timeout
RETRY_S = 30  # a repository whose fetch failed is tried again on a request after this
_VERSION_OR_STAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+/-]{0,254}")


class NotIndexed(Unavailable):
    """The repository has not been indexed yet (or its first fetch failed): try again shortly."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ArtifactProblem(RegistryError):
    """The artifact exists but cannot be downloaded: not DVC-tracked, no remote, an empty directory."""


@dataclass(frozen=True)
class Query:
    repo: str
    name: str  # the full artifact name: "name" or "dir:name"
    version: str | None
    stage: str | None

    @property
    def kind(self) -> str:
        return "version" if self.version else "stage" if self.stage else "latest"

    @property
    def key(self) -> str:
        return self.version or self.stage or ""


def parse_query(repo: str | None, name: str | None, version: str | None, stage: str | None) -> Query:
    if not repo:
        raise InvalidArgument("the repo parameter is required")
    if not name:
        raise InvalidArgument("the name parameter is required")
    for label, value in (("repo", repo), ("name", name), ("version", version), ("stage", stage)):
        if value is not None and (len(value) > MAX_PARAM or any(ord(ch) < 32 for ch in value)):
            raise InvalidArgument(f"the {label} parameter is malformed")
    if version and stage:
        raise InvalidArgument("give a version or a stage, not both")
    for label, value in (("version", version), ("stage", stage)):
        if value and not _VERSION_OR_STAGE.fullmatch(value):
            raise InvalidArgument(f"invalid {label} {shown(value)}")
    return Query(repo, full_name(name), version or None, stage or None)


def full_name(name: str) -> str:
    """`path/to/dvc.yaml:model` and `path/to:model` name the same artifact (DVC sends the second);
    `dvc.yaml:model` and `model` too."""
    directory, colon, artifact = name.rpartition(":")
    if not colon:
        return name
    if directory == "dvc.yaml" or directory.endswith("/dvc.yaml"):
        directory = directory.removesuffix("dvc.yaml").rstrip("/")
    directory = directory.strip("/")
    if directory in ("", "."):
        return artifact
    return f"{posixpath.normpath(directory)}:{artifact}"


@dataclass(frozen=True)
class Resolved:
    repository: RepositoryRow
    version: str
    commit: str
    artifact: ArtifactRow
    files: list[tuple[str, str]] | None  # a directory's files (relpath, md5), once read


def find_repository(conn: Session, text: str, key: LookupKey, actor: Principal) -> RepositoryRow:
    """The repository a `repo` parameter names, if the actor may see one of its projects; else 404 (the
    same answer whether it does not exist or is private, so that private repositories do not leak)."""
    user_id = projects.visible_user(actor)
    for identity in key.identities:
        found = gitmodels.repository_by_identity(conn, identity)
        if found is not None and gitmodels.repository_visible(conn, found.id, user_id):
            return found
    visible = [
        r
        for r in gitmodels.repositories_by_paths(conn, key.paths)
        if key.matches(r.host, r.path) and gitmodels.repository_visible(conn, r.id, user_id)
    ]
    if len(visible) == 1:
        return visible[0]
    more = " (several hosts have it: give the full URL)" if len(visible) > 1 else ""
    raise NotFound(f"no project for repository {shown(text)}{more}")


def lookup(
    conn: Session, key: LookupKey, query: Query, actor: Principal
) -> tuple[RepositoryRow, Resolved | None]:
    """The repository `repo` names and, once it is indexed, what the query resolves to. The usual case
    (a full URL, a known model) is one lookup; anything else takes the detailed path, which also says
    what is missing."""
    user_id = projects.visible_user(actor)
    for identity in key.identities[:1]:
        found = gitmodels.download(conn, identity, user_id, query.name, query.kind, query.key)
        if found is not None and not found.artifact.problem:
            return found.repository, Resolved(
                found.repository, found.ref.version, found.ref.commit, found.artifact, None
            )
    repository = find_repository(conn, query.repo, key, actor)
    if repository.index_time is None:
        return repository, None
    return repository, resolve(conn, repository, query)


def resolve(conn: Session, repository: RepositoryRow, query: Query) -> Resolved:
    ref = gitmodels.ref(conn, repository.id, query.name, query.kind, query.key)
    if ref is None:
        raise NotFound(_missing(conn, repository, query))
    artifact = gitmodels.artifact(conn, repository.id, ref.commit, query.name)
    if artifact is None:
        problems = gitmodels.commit_problems(conn, repository.id, ref.commit)
        why = f": {problems[0]}" if problems else ""
        raise NotFound(
            f"model {query.name!r} {ref.version} (commit {ref.commit[:7]}) is not declared in a dvc.yaml{why}"
        )
    if artifact.problem:
        raise ArtifactProblem(f"model {query.name!r} {ref.version}: {artifact.problem}")
    return Resolved(repository, ref.version, ref.commit, artifact, None)


def _missing(conn: Session, repository: RepositoryRow, query: Query) -> str:
    known = gitmodels.has_artifact_refs(conn, repository.id, query.name)
    if not known:
        return f"model {query.name!r} not found in {repository.identity}"
    if query.version:
        return f"version {query.version} of model {query.name!r} not found"
    if query.stage:
        return f"no version of model {query.name!r} is in stage {query.stage!r}"
    return f"model {query.name!r} has no registered version (or it is deprecated)"


def object_urls(resolved: Resolved) -> dict[str, str]:
    """{path-in-repo: object URL in the remote's scheme}, before signing."""
    artifact = resolved.artifact
    assert artifact.md5 is not None and artifact.remote_url is not None
    if not artifact.is_dir:
        url = dvcfiles.object_url(artifact.remote_url, artifact.md5, legacy=artifact.legacy, is_dir=False)
        return {artifact.path: url}
    assert resolved.files is not None
    base = artifact.output_path or artifact.path
    inner = artifact.inner
    urls = {}
    for relpath, md5 in resolved.files:
        if inner and not (relpath == inner or relpath.startswith(inner.rstrip("/") + "/")):
            continue
        urls[posixpath.join(base, relpath)] = dvcfiles.object_url(
            artifact.remote_url, md5, legacy=artifact.legacy, is_dir=False
        )
    if not urls:
        raise ArtifactProblem(f"model {artifact.name!r} {resolved.version}: the directory holds no files")
    return urls


def worth_retrying(repository: RepositoryRow) -> bool:
    """A repository whose last fetch failed is fetched again on a request, at most every RETRY_S."""
    last = repository.attempt_time or 0
    return clock.now() - last > RETRY_S * 1000


def not_indexed(repository: RepositoryRow, retry_after: int) -> NotIndexed:
    if repository.state == "error":
        return NotIndexed(
            f"repository {repository.identity} could not be fetched: {repository.error}", retry_after
        )
    return NotIndexed(
        f"repository {repository.identity} is being indexed: try again in a few seconds", retry_after
    )


def remote_options(artifact: ArtifactRow) -> dict[str, str]:
    options: dict[str, str] = json.loads(artifact.remote_options or "{}")
    return options


def signer_for(signers: Signers, artifact: ArtifactRow) -> Signer:
    assert artifact.remote_url is not None
    return signers.for_remote(artifact.remote_url, remote_options(artifact))


def directory_files(
    database: Database, signers: Signers, artifact: ArtifactRow, timeout: float
) -> list[tuple[str, str]]:
    """A directory's files from its `.dir` manifest: cached, or fetched from the remote within `timeout`
    (a worker thread) and cached, checked against its md5 first."""
    assert artifact.md5 is not None and artifact.remote_url is not None
    md5 = artifact.md5
    files = database.run(lambda conn: gitmodels.manifest(conn, md5), write=False)
    if files is not None:
        return files
    if timeout <= 0:
        raise Unavailable("the directory listing is not cached yet: try again")
    fetched = fetch_manifest(signer_for(signers, artifact), artifact, timeout)
    database.run(lambda conn: gitmodels.put_manifest(conn, md5, fetched, clock.now()), write=True)
    return fetched


def fetch_manifest(signer: Signer, artifact: ArtifactRow, timeout: float) -> list[tuple[str, str]]:
    assert artifact.md5 is not None and artifact.remote_url is not None
    url = dvcfiles.object_url(artifact.remote_url, artifact.md5, legacy=artifact.legacy, is_dir=True)
    data = signer.fetch(url, max_bytes=MANIFEST_MAX_BYTES, timeout=min(timeout, MANIFEST_TIMEOUT_S))
    try:
        return dvcfiles.parse_dir_manifest(data, artifact.md5)
    except InvalidArgument as exc:  # the remote's fault, not the caller's
        raise ArtifactProblem(
            f"model {artifact.name!r}: the directory manifest in the remote is corrupt: {exc}"
        ) from None


def sign(signers: Signers, signer: Signer, urls: dict[str, str]) -> dict[str, str]:
    keys = list(urls)
    signed = signers.sign_with(signer, [urls[k] for k in keys])
    return dict(zip(keys, signed, strict=True))
