"""Bare mirrors: one per repository, fetched with the `git` CLI, read with pygit2 straight from the object
database (never a working tree).

A mirror holds the remote's branches and tags (refs/heads/*, refs/tags/*, forced and pruned), nothing
else: not GitHub's refs/pull/*, no remote-tracking refs, no remote in its config, so the URL (after the
operator's rewrites) is given on every sync and may change between them.

Threads: a pygit2 Repository is not thread-safe, so every read opens its own; a sync may run while others
read, because git replaces refs atomically and libgit2 rereads the packs when an object is missing. Two
syncs of one mirror (threads or processes) are serialised by an fcntl lock on `<path>.lock`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pygit2
from pygit2.enums import FileMode, ObjectType, ReferenceFilter

from modelshelf.gitindex.gitcommand import GitCommandError, GitContext, git_command, run_git
from modelshelf.gitindex.tags import Tag
from modelshelf.settings import GitCredential

REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
LOCK_POLL_S = 0.05
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FILE_MODES = (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)  # not symlinks, submodules or trees
_BAD_NAMES = frozenset({"", ".", "..", ".git"})


class MirrorError(Exception):
    """Fetching or reading a mirror failed; the message is one line, safe to show users (no secret)."""


def mirror_path(root: Path, identity: str) -> Path:
    """Where the mirror of the repository `identity` lives under `root` (e.g. <data_dir>/git)."""
    return root / f"{hashlib.sha256(identity.encode()).hexdigest()[:16]}.git"


class Mirror:
    """The bare mirror at `path`. Its siblings hold what its fetches share: `.home` (an empty HOME, so no
    user config is read), `known_hosts`, and the per-mirror lock file `<path>.lock`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._context = GitContext(home=path.parent / ".home", known_hosts=path.parent / "known_hosts")

    # --- fetching ------------------------------------------------------------------------------------------

    def sync(self, url: str, *, timeout: float, credentials: GitCredential | None) -> None:
        """Clone `url` (into a temporary directory, renamed when complete) or fetch it, within `timeout`
        seconds in all, waiting for another sync of this mirror included. Raises MirrorError."""
        deadline = time.monotonic() + timeout
        if url.startswith("-"):
            raise MirrorError("the repository URL must not start with '-'")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._context.home.mkdir(mode=0o700, exist_ok=True)
        try:
            prefix, env = git_command(url, self._context, credentials)
            secrets = [credentials.password] if credentials is not None and credentials.password else []
            with self._locked(deadline, timeout):
                self._remove_leftovers()
                if self.path.exists():
                    self._fetch(prefix, env, url, self.path, deadline, timeout, secrets)
                    return
                temporary = self.path.with_name(f".{self.path.name}.tmp-{uuid.uuid4().hex[:12]}")
                try:
                    run_git(
                        [*prefix, "init", "--quiet", "--bare", str(temporary)],
                        env,
                        deadline=deadline,
                        timeout=timeout,
                    )
                    self._fetch(prefix, env, url, temporary, deadline, timeout, secrets)
                    temporary.rename(self.path)
                finally:
                    shutil.rmtree(temporary, ignore_errors=True)
        except GitCommandError as err:
            raise MirrorError(str(err)) from None

    def _fetch(
        self,
        prefix: list[str],
        env: dict[str, str],
        url: str,
        target: Path,
        deadline: float,
        timeout: float,
        secrets: list[str],
    ) -> None:
        args = [
            *prefix,
            "--git-dir",
            str(target),
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",  # the refspec already takes every tag; no auto-following besides it
            "--no-recurse-submodules",
            "--no-write-fetch-head",
            "--end-of-options",
            url,
            *REFSPECS,
        ]
        run_git(args, env, deadline=deadline, timeout=timeout, secrets=secrets, cwd=target)

    @contextmanager
    def _locked(self, deadline: float, timeout: float) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise MirrorError(
                            f"fetch timed out after {timeout:g} s waiting for another fetch of this "
                            "repository"
                        ) from None
                    time.sleep(LOCK_POLL_S)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _remove_leftovers(self) -> None:
        """Temporary clones of a sync that crashed (the lock is held, so none is in progress)."""
        for leftover in self.path.parent.glob(f".{self.path.name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    # --- reading -------------------------------------------------------------------------------------------

    def _open(self) -> pygit2.Repository:
        if not self.path.is_dir():
            raise MirrorError("the repository has not been fetched yet")
        try:
            return pygit2.Repository(str(self.path), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
        except pygit2.GitError as err:
            raise MirrorError(f"the mirror cannot be opened: {err}") from None

    def tags(self) -> tuple[list[Tag], int]:
        """The annotated tags that peel to a commit, and how many others (lightweight, on a tree or a blob,
        without a tagger, or with a name that is not UTF-8) were ignored."""
        repo = self._open()
        tags: list[Tag] = []
        ignored = 0
        for ref in repo.references.iterator(ReferenceFilter.TAGS):
            tag = _annotated(repo, ref)
            if tag is None:
                ignored += 1
            else:
                tags.append(tag)
        return tags, ignored

    def fingerprint(self) -> str:
        """A digest of every refs/tags/* name and target: an unchanged fingerprint means unchanged tags,
        so no re-index is needed."""
        repo = self._open()
        entries = sorted(
            (ref.raw_name, str(ref.target).encode()) for ref in repo.references.iterator(ReferenceFilter.TAGS)
        )
        digest = hashlib.sha256()
        for name, target in entries:
            digest.update(name + b"\0" + target + b"\n")
        return digest.hexdigest()

    def files(self, commit: str, wanted: Callable[[str], bool], *, max_entries: int = 200_000) -> list[str]:
        """The repository-root-relative POSIX paths of the regular files in `commit` for which `wanted` is
        true. Symlinks, submodules and entries named "..", "." or ".git" are skipped; a tree of more than
        `max_entries` entries (counting every level) raises MirrorError."""
        repo = self._open()
        found: list[str] = []
        seen = 0
        stack: list[tuple[str, pygit2.Tree]] = [("", _commit(repo, commit).tree)]
        while stack:
            prefix, tree = stack.pop()
            seen += len(tree)
            if seen > max_entries:
                raise MirrorError(f"commit {commit[:12]} has more than {max_entries} files and directories")
            for entry in tree:
                name = _entry_name(entry)
                if name is None:
                    continue
                path = prefix + name
                if entry.filemode == FileMode.TREE:
                    subtree = repo.get(entry.id)
                    if isinstance(subtree, pygit2.Tree):
                        stack.append((path + "/", subtree))
                elif entry.filemode in _FILE_MODES and wanted(path):
                    found.append(path)
        return sorted(found)

    def read(self, commit: str, path: str, *, max_bytes: int = 1_048_576) -> bytes | None:
        """The bytes of the regular file at `path` in `commit`; None when there is none (no such path, a
        directory, a symlink, or a path that cannot name a file: absolute, "..", empty components).
        MirrorError when the file is larger than `max_bytes` (checked before it is loaded)."""
        if not _valid_path(path):
            return None
        repo = self._open()
        tree = _commit(repo, commit).tree
        try:
            entry = tree[path]
        except (KeyError, ValueError):
            return None
        if entry.filemode not in _FILE_MODES:
            return None
        kind, size = repo.odb.read_header(entry.id)
        if kind != ObjectType.BLOB:
            return None
        if size > max_bytes:
            raise MirrorError(
                f"{path} in commit {commit[:12]} is larger than {max_bytes} bytes ({size} bytes)"
            )
        blob = repo.get(entry.id)
        return blob.data if isinstance(blob, pygit2.Blob) else None


def _annotated(repo: pygit2.Repository, ref: pygit2.Reference) -> Tag | None:
    try:
        name = ref.raw_name.decode("utf-8").removeprefix("refs/tags/")
    except UnicodeDecodeError:
        return None
    if ref.type != pygit2.enums.ReferenceType.DIRECT:
        return None
    target = ref.target
    assert isinstance(target, pygit2.Oid)
    try:
        kind, _ = repo.odb.read_header(target)
        if kind != ObjectType.TAG:
            return None  # lightweight
        tag = repo.get(target)
        if not isinstance(tag, pygit2.Tag) or tag.tagger is None:
            return None
        commit = tag.peel(pygit2.Commit)
    except (pygit2.GitError, KeyError, ValueError, pygit2.InvalidSpecError):
        return None  # a tag on a tree or a blob, or an object missing from a broken mirror
    return Tag(name=name, commit=str(commit.id), time=int(tag.tagger.time))


def _commit(repo: pygit2.Repository, commit: str) -> pygit2.Commit:
    if not _OBJECT_ID.fullmatch(commit):
        raise MirrorError(f"not a commit id: {commit[:80]!r}")
    try:
        obj = repo.get(commit)
    except (pygit2.GitError, ValueError):
        obj = None
    if not isinstance(obj, pygit2.Commit):
        raise MirrorError(f"commit {commit[:12]} is not in the mirror")
    return obj


def _entry_name(entry: pygit2.Object) -> str | None:
    """The entry's name when it can be part of a path; None for names a hostile tree may hold."""
    raw = entry.raw_name
    try:
        name = raw.decode("utf-8") if raw is not None else ""
    except UnicodeDecodeError:
        return None
    if name in _BAD_NAMES or "/" in name or "\\" in name or "\0" in name:
        return None
    return name


def _valid_path(path: str) -> bool:
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    return all(part not in _BAD_NAMES for part in path.split("/")) and str(PurePosixPath(path)) == path
