"""Git work runs once across replicas: two real `modelshelf serve` processes on one real PostgreSQL, each
with a data directory (and so Git mirrors) of its own as on two hosts, and one Git repository.

Refreshes sent to both replicas at once fetch the repository once (the other replica sees the job done by
the first, through the repository's advisory lock); both answer get-download-uris from the shared index,
the one that never fetched too, even for its first download, which waits for the other replica's job.
Only one replica runs the periodic sweep. What each replica fetched is read from its log (info level).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import _empty_postgres
from tests.fixtures.serve import Server, call, serving
from tests.integration.test_git_models import REPO, GitRepo, dvc_project
from tests.integration.test_replicas import TOKEN, replica_env

pytestmark = pytest.mark.postgres

IDENTITY = "git.example.com/acme/models"
ROUNDS = 4
ROUND_TIMEOUT_S = 30.0


@contextmanager
def two_replicas(postgres_url: str, tmp_path: Path, refresh_interval: str) -> Iterator[tuple[Server, Server]]:
    _empty_postgres(postgres_url)
    config = tmp_path / "modelshelf.toml"
    config.write_text(
        f"""
[git]
refresh_interval = "{refresh_interval}"
fetch_timeout = "20"
[[git.rewrite]]
prefix = "https://git.example.com/acme/"
to = "{(tmp_path / "origin").as_uri()}/"
"""
    )
    env = {"MODELSHELF_CONFIG": str(config)}
    with (
        serving(replica_env(postgres_url, tmp_path / "a-data", **env), tmp_path / "a") as a,
        serving(replica_env(postgres_url, tmp_path / "b-data", **env), tmp_path / "b") as b,
    ):
        yield a, b


@pytest.fixture
def origin(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "origin" / "models.git")
    dvc_project(repo, "weights 1")
    repo.commit("v1")
    repo.tag("clf@v1.0.0")
    return repo


def fetches(server: Server, identity: str = IDENTITY) -> int:
    return server.output().count(f"INFO    modelshelf.gitsync fetched {identity}\n")


def covered(server: Server, identity: str = IDENTITY) -> int:
    return server.output().count(f"modelshelf.gitsync {identity}: refreshed by another replica\n")


def wait_for(condition: str, check: object, servers: tuple[Server, ...]) -> None:
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    logs = "\n---\n".join(s.output()[-3000:] for s in servers)
    pytest.fail(f"not {condition} after {ROUND_TIMEOUT_S} s:\n{logs}")


def create_project(server: Server, repo_url: str = REPO) -> str:
    status, body = call(f"{server.base_url}/api/create-project", TOKEN, "POST", {"repo_url": repo_url})
    assert status == 201, body
    return str(body["projects"][0]["id"])


def download_uris(server: Server, repo: str = REPO, **query: str) -> tuple[int, dict[str, object]]:
    params = urlencode({"repo": repo, "name": "clf", **query})
    return call(f"{server.base_url}/api/model-registry/get-download-uris?{params}", TOKEN)


def project_state(server: Server, project_id: str) -> str:
    status, body = call(f"{server.base_url}/api/projects/{project_id}", TOKEN)
    assert status == 200, body
    return str(body["state"])


def test_refreshes_sent_to_both_replicas_at_once_fetch_once(
    postgres_url: str, tmp_path: Path, origin: GitRepo
) -> None:
    with two_replicas(postgres_url, tmp_path, refresh_interval="0") as (a, b):
        project = create_project(a)
        wait_for("indexed", lambda: project_state(b, project) == "ready", (a, b))
        assert (fetches(a), fetches(b)) == (1, 0), "the project's first index fetched through A only"

        for round_ in range(ROUNDS):
            origin.tag(f"clf@v1.0.{round_ + 1}")  # something new to index each round
            before = fetches(a) + fetches(b), covered(a) + covered(b)
            start = threading.Barrier(2)

            def refresh(server: Server, start: threading.Barrier = start) -> int:
                start.wait()
                return call(f"{server.base_url}/api/projects/{project}/refresh", TOKEN, "POST")[0]

            with ThreadPoolExecutor(2) as pool:
                assert list(pool.map(refresh, (a, b))) == [202, 202]

            def settled(before: tuple[int, int] = before) -> bool:
                return fetches(a) + fetches(b) + covered(a) + covered(b) >= sum(before) + 2

            wait_for(f"settled in round {round_}", settled, (a, b))
            time.sleep(0.3)  # a second fetch, if any, would be logged by now
            assert fetches(a) + fetches(b) == before[0] + 1, f"round {round_}: fetched once"
            assert covered(a) + covered(b) == before[1] + 1, f"round {round_}: one replica saw it done"

            version = f"v1.0.{round_ + 1}"
            for server in (a, b):
                status, uris = download_uris(server, version=version)
                assert status == 200, uris
                assert list(uris) == ["models/model.pkl"], uris
        assert "Traceback" not in a.output() + b.output()


def test_the_first_download_on_the_other_replica_waits_for_the_index(
    postgres_url: str, tmp_path: Path, origin: GitRepo
) -> None:
    with two_replicas(postgres_url, tmp_path, refresh_interval="0") as (a, b):
        for attempt in range(3):
            other = GitRepo(tmp_path / "origin" / f"other{attempt}.git")
            dvc_project(other, "weights")
            other.commit("v1")
            other.tag("clf@v2.0.0")
            repo = f"https://git.example.com/acme/other{attempt}.git"
            create_project(a, repo)
            # At once, before A's job can have ended: B waits for it within the dvc client's budget.
            started = time.monotonic()
            status, uris = download_uris(b, repo)
            assert time.monotonic() - started < 5.0
            assert status == 200, uris
            identity = f"git.example.com/acme/other{attempt}"
            wait_for("logged", lambda: fetches(a, identity) + fetches(b, identity) >= 1, (a, b))  # noqa: B023
            time.sleep(0.3)
            assert fetches(a, identity) + fetches(b, identity) == 1, "one fetch for both replicas"
            assert download_uris(a, repo)[0] == 200


def test_only_one_replica_sweeps(postgres_url: str, tmp_path: Path, origin: GitRepo) -> None:
    with two_replicas(postgres_url, tmp_path, refresh_interval="1") as (a, b):
        project = create_project(a)
        wait_for("indexed", lambda: project_state(b, project) == "ready", (a, b))
        before = {server.base_url: fetches(server) for server in (a, b)}
        seen = covered(a) + covered(b)

        def swept() -> int:
            return sum(fetches(server) - before[server.base_url] for server in (a, b))

        wait_for("swept three times", lambda: swept() >= 3, (a, b))
        swept_by = [server for server in (a, b) if fetches(server) > before[server.base_url]]
        assert len(swept_by) == 1, (fetches(a), fetches(b))
        assert covered(a) + covered(b) == seen, "the other replica asked for no sweep at all"
