"""Keeping the index of Git models up to date, in the background.

One job per repository at a time, on threads of its own (never the event loop, never the request
threads): fetch the mirror, and if its tags changed, resolve them with GTO's rules and index the commits
that versions and stages point at. A refresh that finds the same tags costs one `git fetch`. Jobs come
from project creation, the refresh route and CLI, push webhooks, and a periodic sweep.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from modelshelf import blocking
from modelshelf.errors import RegistryError
from modelshelf.gitindex import dvcfiles, gto
from modelshelf.gitindex.gitcommand import kill_all
from modelshelf.gitindex.mirror import Mirror, MirrorError, mirror_path
from modelshelf.gitindex.urls import credential_for, fetch_url, parse_repo_url
from modelshelf.services import downloads
from modelshelf.services.clock import clock
from modelshelf.settings import GIT_SCHEMES, Settings
from modelshelf.storage.errors import StorageProblem
from modelshelf.storage.signers import Signers
from modelshelf.store import gitmodels
from modelshelf.store.gitmodels import ArtifactRow, RepositoryRow
from modelshelf.store.leases import Leases
from modelshelf.store.session import Database, Session

log = logging.getLogger("modelshelf.gitsync")
T = TypeVar("T")

JOB_THREADS = 2
STOP_WAIT_S = 10.0
MAX_COMMITS_PER_JOB = 2000
MAX_PREFETCH_PER_JOB = 100
PREFETCH_TIMEOUT_S = 10.0
# While another replica runs a repository's job, how often this one looks whether it has ended.
POLL_FIRST_S = 0.05
POLL_MAX_S = 0.5
SWEEP_LEASE = "git-sweep"


@dataclass(frozen=True)
class Outcome:
    fetched: bool
    indexed: bool  # the tags had changed, so the resolution was rebuilt
    commits: int  # commits newly indexed
    error: str | None = None
    elsewhere: bool = False  # another replica ran this job (or one that covers it)


class Syncer:
    def __init__(self, database: Database, settings: Settings, signers: Signers | None = None) -> None:
        self.database = database
        self.settings = settings
        self.signers = signers  # for prefetching directory manifests; None: requests fetch them
        self._pool = concurrent.futures.ThreadPoolExecutor(JOB_THREADS, thread_name_prefix="modelshelf-git")
        self._lock = threading.Lock()
        self._running: dict[int, concurrent.futures.Future[Outcome]] = {}
        # Asked for while running: run once more after, for a request made at this time (clock.now()).
        self._again: dict[int, int] = {}
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        # Replicas on one PostgreSQL database: one job per repository among them, one sweeper.
        self.leases = Leases(database.engine, settings.request_timeout)

    # --- scheduling -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.git.refresh_interval > 0 and self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep, name="modelshelf-git-sweep", daemon=True)
            self._sweeper.start()

    def stop(self, wait: float = STOP_WAIT_S) -> None:
        """Take no more jobs, drop the queued ones, and give running ones `wait` seconds to end (a fetch
        past that is cut off by its own timeout; its process dies with the server)."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        kill_all()  # fetches in flight end now, not at their timeout
        with self._lock:
            running = [f for f in self._running.values() if not f.done()]
        concurrent.futures.wait(running, timeout=wait)
        if self._sweeper is not None:
            self._sweeper.join(timeout=1.0)  # it gives up the sweep's lease as it ends
        self.leases.dispose()

    def request(self, repository_id: int, *, fresh: bool = True) -> concurrent.futures.Future[Outcome]:
        """Fetch and index the repository soon; one job per repository at a time (a request during a job
        runs one more job after it, so a push seen mid-fetch is not lost).

        `fresh`: the job must fetch after this request (a refresh, a push); a job that another replica
        started after it does. Otherwise (a download waiting for the first index) any job will do: one
        running on another replica is waited for, not repeated.
        """
        asked = clock.now() if fresh else None
        with self._lock:
            running = self._running.get(repository_id)
            if running is not None and not running.done():
                if asked is not None:
                    self._again[repository_id] = asked
                return running
            if self._stop.is_set():
                cancelled: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
                cancelled.cancel()
                return cancelled
            try:
                future = self._pool.submit(self._job, repository_id, asked)
            except RuntimeError:  # shut down between the check above and here
                future = concurrent.futures.Future()
                future.cancel()
                return future
            self._running[repository_id] = future
            return future

    async def wait(self, repository_id: int, timeout: float) -> bool:
        """Wait up to `timeout` for the repository's current job; True if none is left running. A job that
        found the repository's job running on another replica ends when that one does (see _shared_job),
        so this waits for the other replica's job too, within the same bound."""
        with self._lock:
            future = self._running.get(repository_id)
        if future is None or future.done():
            return True
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except TimeoutError:
            return False
        except Exception:
            return True  # the job's failure is recorded on the repository
        return True

    def _job(self, repository_id: int, asked: int | None) -> Outcome:
        try:
            while True:
                outcome = self._shared_job(repository_id, asked)
                with self._lock:
                    again = self._again.pop(repository_id, None)
                    if again is None or self._stop.is_set():
                        self._running.pop(repository_id, None)
                        return outcome
                    asked = again
        except BaseException:
            with self._lock:
                self._running.pop(repository_id, None)
            raise

    def _shared_job(self, repository_id: int, asked: int | None) -> Outcome:
        """`sync`, unless another replica is running this repository's job: then this one waits for it
        to end (polling its lock) and does the job itself only if that one does not cover it.

        A job covers a fresh request when it started (took the lock and stamped `attempt_time`) after the
        request was made; clocks of replicas on several hosts are assumed to agree within milliseconds.
        A request that is not fresh is covered by whatever job ran meanwhile.
        """
        if not self.leases.shared:
            return self.sync(repository_id)
        repository = self._load(repository_id)
        if isinstance(repository, Outcome):
            return repository
        try:
            return self._wait_or_sync(repository, asked)
        except RegistryError as exc:  # the database, unavailable to the lease or to a look
            return Outcome(False, False, 0, str(exc))

    def _wait_or_sync(self, repository: RepositoryRow, asked: int | None) -> Outcome:
        repository_id = repository.id
        git = self.settings.git
        give_up = time.monotonic() + 2 * git.fetch_timeout + self.settings.request_timeout
        pause, waited = POLL_FIRST_S, False
        with self.leases.lease(f"git:{repository.identity}") as lease:
            while not lease.take():
                waited = True
                if asked is not None and self._covered(repository_id, asked):
                    return self._skipped(repository, "refreshed by another replica")
                if self._stop.wait(pause) or time.monotonic() > give_up:
                    return Outcome(False, False, 0, "another replica is still refreshing the repository")
                pause = min(pause * 2, POLL_MAX_S)
            if asked is None and waited:
                return self._skipped(repository, "indexed by another replica")
            if asked is not None and self._covered(repository_id, asked):
                return self._skipped(repository, "refreshed by another replica")
            return self.sync(repository_id)

    def _covered(self, repository_id: int, asked: int) -> bool:
        """Whether a job started after `asked` (by any replica)."""
        current = self._db(lambda c: gitmodels.repository(c, repository_id), write=False)
        return current is None or (current.attempt_time is not None and current.attempt_time >= asked)

    def _skipped(self, repository: RepositoryRow, why: str) -> Outcome:
        log.info("%s: %s", repository.identity, why)
        return Outcome(False, False, 0, elsewhere=True)

    def _sweep(self) -> None:
        """Every `refresh_interval`, refresh every repository; among replicas, only the one that holds
        the sweep's lease does (it keeps the lease while it lives; the others try again each time)."""
        with self.leases.lease(SWEEP_LEASE) as lease:
            while not self._stop.wait(self.settings.git.refresh_interval):
                try:
                    if not lease.keep():
                        continue
                    for repository in self._db(gitmodels.repositories, write=False):
                        self.request(repository.id)
                except Exception:
                    log.exception("periodic refresh failed")

    # --- one job ----------------------------------------------------------------------------------------

    def sync(self, repository_id: int) -> Outcome:
        """Fetch, and index what changed. Failures are recorded on the repository, never raised."""
        repository = self._load(repository_id)
        if isinstance(repository, Outcome):
            return repository
        try:
            return self._sync(repository)
        except (MirrorError, RegistryError) as exc:
            self._record_error(repository, str(exc))
            return Outcome(False, False, 0, str(exc))
        except Exception as exc:
            log.exception("indexing %s failed", repository.identity)
            self._record_error(repository, f"indexing failed: {exc.__class__.__name__}")
            return Outcome(False, False, 0, str(exc))

    def _load(self, repository_id: int) -> RepositoryRow | Outcome:
        """The repository's row as stored now, or the outcome of a job that cannot start."""
        try:
            repository = self._db(lambda c: gitmodels.repository(c, repository_id), write=False)
        except RegistryError as exc:
            return Outcome(False, False, 0, str(exc))
        return repository if repository is not None else Outcome(False, False, 0, "the repository is gone")

    def _db(self, work: Callable[[Session], T], *, write: bool) -> T:
        """One database call from a job, with a request's deadline: a job never holds a lock for long."""
        with blocking.deadline_after(self.settings.request_timeout):
            return self.database.run(work, write=write)

    def _sync(self, repository: RepositoryRow) -> Outcome:
        mirror = Mirror(mirror_path(self.settings.data_dir / "git", repository.identity))
        git = self.settings.git
        now = clock.now()
        self._db(lambda c: gitmodels.update_repository(c, repository.id, {"attempt_time": now}), write=True)
        # Stored URLs were accepted when their project was made; a scheme removed from the configuration
        # since then does not strand the repository.
        url = fetch_url(parse_repo_url(repository.clone_url, schemes=GIT_SCHEMES), git.rewrite)
        mirror.sync(url, timeout=git.fetch_timeout, credentials=credential_for(url, git.credentials))
        log.info("fetched %s", repository.identity)
        fingerprint = mirror.fingerprint()
        if fingerprint == repository.fingerprint and repository.state == "ready":
            self._db(
                lambda c: gitmodels.update_repository(
                    c, repository.id, {"fetch_time": clock.now(), "error": None}
                ),
                write=True,
            )
            return Outcome(True, False, 0)
        tags, not_annotated = mirror.tags()
        summary = gto.summarize(tags)
        ignored = not_annotated + summary.ignored  # lightweight tags, and tags outside GTO's grammar
        refs = _refs(summary.artifacts)
        known = self._db(lambda c: gitmodels.indexed_commits(c, repository.id), write=False)
        wanted = sorted({r["commit"] for r in refs} - known)
        # A hostile or huge repository gets a bounded share of the job threads: what is not indexed in
        # time is left for the next job (indexed commits are kept), and the repository says so.
        stop_at = time.monotonic() + self.settings.git.fetch_timeout
        indexed = []
        for commit in wanted[:MAX_COMMITS_PER_JOB]:
            if time.monotonic() > stop_at or self._stop.is_set():
                break
            indexed.append((commit, *_index_commit(mirror, commit)))
        complete = len(indexed) == len(wanted)
        current = {t.name: (t.commit, t.time) for t in tags}

        def write(conn: Session) -> None:
            stored_now = gitmodels.repository(conn, repository.id)
            if stored_now is None or stored_now.identity != repository.identity:
                return  # its last project was deleted while this job ran
            stamp = clock.now()
            # Compared here, in the transaction: another job (the CLI's, another replica's) may have
            # written some of this since it was read.
            already = gitmodels.indexed_commits(conn, repository.id)
            for commit, problems, artifacts in indexed:
                if commit not in already:
                    gitmodels.add_commit(conn, repository.id, commit, problems, artifacts, stamp)
            if not complete:
                left = len(wanted) - len(indexed)
                gitmodels.update_repository(
                    conn,
                    repository.id,
                    {"error": f"indexing is not finished: {left} commits left for the next refresh"},
                )
                return
            stored = gitmodels.tags(conn, repository.id)
            added = [(n, c, t) for n, (c, t) in current.items() if stored.get(n) != (c, t)]
            removed = [n for n, value in stored.items() if current.get(n) != value]
            gitmodels.change_tags(conn, repository.id, [], removed)
            gitmodels.change_tags(conn, repository.id, added, [])
            gitmodels.replace_refs(conn, repository.id, refs)
            gitmodels.update_repository(
                conn,
                repository.id,
                {
                    "state": "ready",
                    "error": None,
                    "fingerprint": fingerprint,
                    "tags_ignored": ignored,
                    "fetch_time": stamp,
                    "index_time": stamp,
                },
            )

        self._db(write, write=True)
        log.info(
            "indexed %s: %d tags (%d ignored), %d new commits%s",
            repository.identity,
            len(tags),
            ignored,
            len(indexed),
            "" if complete else f" ({len(wanted) - len(indexed)} left)",
        )
        self._prefetch_manifests(indexed)
        if not complete and not self._stop.is_set():
            self.request(repository.id)  # the rest, after other repositories had their turn
        return Outcome(True, complete, len(indexed))

    def _prefetch_manifests(self, indexed: list[tuple[str, list[str], list[dict[str, Any]]]]) -> None:
        """Fetch the `.dir` manifests of newly indexed directories now, so that no request waits for one.
        Best effort: one that fails is fetched by the first request that needs it."""
        if self.signers is None:
            return
        rows = [
            a
            for _, _, artifacts in indexed
            for a in artifacts
            if a["is_dir"] and a["md5"] and a["remote_url"]
        ]
        for row in rows[:MAX_PREFETCH_PER_JOB]:
            if self._stop.is_set():
                return
            artifact = ArtifactRow(repository_id=0, commit="", **row)
            try:
                downloads.directory_files(self.database, self.signers, artifact, PREFETCH_TIMEOUT_S)
            except (RegistryError, StorageProblem) as exc:
                log.info("could not prefetch the manifest of %s: %s", row["name"], exc)

    def _record_error(self, repository: RepositoryRow, message: str) -> None:
        # A repository that was indexed once keeps serving that index while its fetches fail.
        state = "ready" if repository.index_time is not None else "error"
        try:
            self._db(
                lambda c: gitmodels.update_repository(c, repository.id, {"state": state, "error": message}),
                write=True,
            )
        except RegistryError:
            log.warning("could not record the failure of %s: %s", repository.identity, message)

    def forget(self, repository: RepositoryRow) -> None:
        """Remove a deleted repository's mirror."""
        path = mirror_path(self.settings.data_dir / "git", repository.identity)
        shutil.rmtree(path, ignore_errors=True)
        path.with_name(path.name + ".lock").unlink(missing_ok=True)


def _refs(artifacts: dict[str, gto.ArtifactState]) -> list[dict[str, Any]]:
    rows = []
    for name, state in artifacts.items():
        for version, commit in state.versions.items():
            rows.append(
                {"artifact": name, "kind": "version", "key": version, "version": version, "commit": commit}
            )
        for stage, (version, commit) in state.stages.items():
            rows.append(
                {"artifact": name, "kind": "stage", "key": stage, "version": version, "commit": commit}
            )
        if state.latest is not None:
            commit = state.versions[state.latest]
            rows.append(
                {"artifact": name, "kind": "latest", "key": "", "version": state.latest, "commit": commit}
            )
    return rows


def _index_commit(mirror: Mirror, commit: str) -> tuple[list[str], list[dict[str, Any]]]:
    read: Callable[[str], bytes | None] = lambda path: mirror.read(commit, path)  # noqa: E731
    try:
        found = dvcfiles.index_commit(mirror.files(commit, dvcfiles.wanted), read)
    except MirrorError as exc:
        return [str(exc)], []
    return list(found.problems), [_artifact_row(a) for a in found.artifacts]


def _artifact_row(artifact: dvcfiles.Artifact) -> dict[str, Any]:
    output, remote = artifact.output, artifact.output.remote if artifact.output else None
    return {
        "name": artifact.name,
        "path": artifact.path,
        "type": artifact.type,
        "description": artifact.desc,
        "labels": json.dumps(list(artifact.labels)),
        "meta": json.dumps(artifact.meta, default=str) if artifact.meta is not None else None,
        "md5": output.md5 if output else None,
        "is_dir": bool(output and output.is_dir),
        "size": output.size if output else None,
        "nfiles": output.nfiles if output else None,
        "legacy": bool(output and output.legacy),
        "output_path": output.path if output else None,
        "inner": artifact.inner,
        "remote_url": remote.url if remote else None,
        "remote_options": json.dumps(remote.options) if remote else None,
        "problem": artifact.problem,
    }
