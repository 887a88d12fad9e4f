"""What the index keeps of one commit's DVC files: artifacts, the outputs that hold them, their remotes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Remote:
    name: str
    url: str  # the storage URL, `remote://` references resolved; the object layout goes under it
    # Options from .dvc/config that a signer may need (endpointurl, region, account_name, ...). Credentials
    # are dropped when the config is read: the server never uses a repository's credentials.
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Output:
    path: str  # git-root relative
    md5: str  # 32 lower-case hex digits, without DVC's ".dir" suffix
    is_dir: bool  # the object is a `.dir` manifest listing the directory's files
    size: int | None
    nfiles: int | None
    legacy: bool  # DVC 2.x hashing (no `hash: md5` field): objects at `<url>/ab/cdef...`, not `files/md5/`
    remote: Remote | None  # the output's own `remote:`, else the DVC project's core.remote


@dataclass(frozen=True)
class Artifact:
    name: str  # "name" in the root dvc.yaml, "dir:name" in dir/dvc.yaml
    dvcyaml: str  # the dvc.yaml declaring it, git-root relative
    path: str  # git-root relative, normalised (as written when it could not be resolved)
    type: str | None
    desc: str | None
    labels: tuple[str, ...]
    meta: object  # JSON-able
    output: Output | None  # the DVC output holding the bytes
    inner: str | None  # the path relative to `output.path` when it lies inside a tracked directory
    problem: str | None  # why it cannot be downloaded, shown to users; None when it can


@dataclass(frozen=True)
class CommitIndex:
    artifacts: list[Artifact]
    problems: list[str]  # file-level: a dvc.yaml that does not parse, a bad dvc.lock, a warning on a name
