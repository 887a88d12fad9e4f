"""Git models end to end inside the app, on both backends: a real repository (made with git, DVC's
files written as DVC writes them, GTO's annotated tags), fetched through a file:// rewrite, indexed, and
resolved by get-download-uris for an http remote (plain URLs, so no storage is needed here; signing for
S3 and Azure is covered by test_signers_* and the dvc end-to-end test)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from modelshelf.app import create_app
from modelshelf.auth.principal import CLI
from modelshelf.services import accounts
from modelshelf.settings import GitSettings, Settings
from modelshelf.store.session import Database
from tests.fixtures.git_servers import silent_server
from tests.fixtures.http_files import serving_files

REMOTE = "https://dvc.example.org/store"
REPO = "https://git.example.com/acme/models.git"


class GitRepo:
    """A repository built with the real git; tag times are set explicitly (GTO orders by them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 1_767_225_600  # 2026-01-01
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, when: int | None = None) -> str:
        stamp = f"{when or self.clock} +0000"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.path),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }
        done = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def write(self, path: str, text: str) -> None:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, *, lightweight: bool = False) -> None:
        self.clock += 1
        if lightweight:
            self.git("tag", name)
        else:
            self.git("tag", "-a", name, "-m", name, when=self.clock)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # DVC content hash, not security


def dvc_project(repo: GitRepo, model_text: str) -> None:
    """What `dvc init`, `dvc remote add -d` and `dvc add models/model.pkl` leave in Git."""
    repo.write(".dvc/config", f"[core]\n    remote = web\n['remote \"web\"']\n    url = {REMOTE}\n")
    repo.write(
        "models/model.pkl.dvc",
        f"outs:\n- md5: {md5(model_text)}\n  size: {len(model_text)}\n  hash: md5\n  path: model.pkl\n",
    )
    repo.write(
        "dvc.yaml",
        "artifacts:\n  clf:\n    path: models/model.pkl\n    type: model\n    labels: [a]\n"
        "  untracked:\n    path: README.md\n    type: model\n",
    )
    repo.write("README.md", "hello\n")


@pytest.fixture
def origin(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "origin" / "models.git")  # what the rewrite of REPO points at


@contextmanager
def serving_app(
    tmp_path: Path, database_url: str, engine: Engine, origin: GitRepo, **git: object
) -> Iterator[TestClient]:
    """The app, with the repository URL REPO rewritten to `origin`, and alice's token in its client; bob
    (who may read models) and his token are made too."""
    rewrite = {"prefix": "https://git.example.com/acme/", "to": origin.path.parent.as_uri() + "/"}
    options = {"refresh_interval": 0, "fetch_timeout": 20, "rewrite": [rewrite], **git}
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, git=GitSettings.model_validate(options)
    )
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        with Database(engine).write() as conn:
            for name in ("alice", "bob"):
                accounts.create_user(conn, name, admin=False, actor=CLI)
            _, secret = accounts.create_token(
                conn, "alice", "t", ["models:read", "projects:create"], actor=CLI
            )
            _, bobs = accounts.create_token(conn, "bob", "t", ["models:read"], actor=CLI)
        client.headers["Authorization"] = f"token {secret}"
        client.app.state.bob = bobs  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def app(tmp_path: Path, database_url: str, engine: Engine, origin: GitRepo) -> Iterator[TestClient]:
    with serving_app(tmp_path, database_url, engine, origin) as client:
        yield client


def connect(client: TestClient, repo_url: str = REPO) -> str:
    response = client.post("/api/create-project", json={"repo_url": repo_url})
    assert response.status_code == 201, response.text
    project_id = str(response.json()["projects"][0]["id"])
    wait_indexed(client, project_id)
    return project_id


def wait_indexed(client: TestClient, project_id: str, *, after: str | None = None) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = client.get(f"/api/projects/{project_id}").json()
        if (body["lastIndexedAt"] is not None and body["lastIndexedAt"] != after) or body["state"] == "error":
            return dict(body)
        time.sleep(0.05)
    raise AssertionError(f"project {project_id} was not indexed: {body}")


def uris(client: TestClient, **params: str) -> tuple[int, dict[str, str]]:
    response = client.get("/api/model-registry/get-download-uris", params={"repo": REPO, **params})
    return response.status_code, response.json()


def test_versions_stages_and_latest_resolve_to_their_commits(app: TestClient, origin: GitRepo) -> None:
    dvc_project(origin, "model one")
    origin.commit("v1")
    origin.tag("clf@v1.0.0")
    origin.tag("clf#prod#1")
    pointer = origin.path / "models" / "model.pkl.dvc"
    pointer.write_text(pointer.read_text().replace(md5("model one"), md5("model rc")))
    origin.commit("rc")
    origin.tag("clf@v1.1.0-rc.1")  # a prerelease counts, but v1.1.0-rc.1 < v1.1.0
    pointer.write_text(pointer.read_text().replace(md5("model rc"), md5("model two")))
    origin.commit("v2")
    origin.tag("clf@v1.1.0")
    origin.tag("clf#staging#2")
    origin.tag("clf@v9.0.0", lightweight=True)  # lightweight: ignored
    origin.tag("not-a-gto-tag")
    project_id = connect(app)
    shown = app.get(f"/api/projects/{project_id}").json()
    assert shown["state"] == "ready" and shown["error"] is None
    assert shown["tagsIgnored"] == 2  # the lightweight tag, and "not-a-gto-tag" (outside GTO's grammar)

    def object_of(text: str) -> str:
        digest = md5(text)
        return f"{REMOTE}/files/md5/{digest[:2]}/{digest[2:]}"

    assert uris(app, name="clf") == (200, {"models/model.pkl": object_of("model two")})
    assert uris(app, name="clf", version="v1.0.0") == (200, {"models/model.pkl": object_of("model one")})
    assert uris(app, name="clf", stage="prod") == (200, {"models/model.pkl": object_of("model one")})
    assert uris(app, name="clf", stage="staging") == (200, {"models/model.pkl": object_of("model two")})
    assert uris(app, name="dvc.yaml:clf")[0] == 200
    for params, status, message in (
        ({"name": "clf", "version": "v9.0.0"}, 404, "version v9.0.0 of model 'clf' not found"),
        ({"name": "clf", "stage": "dev"}, 404, "no version of model 'clf' is in stage 'dev'"),
        ({"name": "ghost"}, 404, "model 'ghost' not found"),
        ({"name": "clf", "version": "v1.0.0", "stage": "prod"}, 400, "not both"),
        ({"name": ""}, 400, "name parameter is required"),
    ):
        got, body = uris(app, **params)
        assert (got, list(body)) == (status, ["detail"]), (params, body)
        assert message in body["detail"], body
    response = app.get("/api/model-registry/get-download-uris", params={"name": "clf"})
    assert response.status_code == 400 and "repo" in response.json()["detail"]


def test_an_artifact_dvc_does_not_track_is_422(app: TestClient, origin: GitRepo) -> None:
    dvc_project(origin, "m")
    origin.commit("v1")
    origin.tag("untracked@v0.0.1")
    connect(app)
    status, body = uris(app, name="untracked")
    assert status == 422, body
    assert "README.md" in body["detail"] and "not tracked by DVC" in body["detail"]


def test_deregistered_unassigned_and_deprecated(app: TestClient, origin: GitRepo) -> None:
    dvc_project(origin, "m")
    origin.commit("v1")
    origin.tag("clf@v1.0.0")
    origin.tag("clf@v2.0.0#2")  # a counter on a registration parses too
    origin.tag("clf#prod#3")  # a stage on the commit: v2.0.0 is that commit's version
    origin.tag("clf@v2.0.0!#4")  # deregistered: latest falls back to v1.0.0, prod goes with it
    project_id = connect(app)
    assert uris(app, name="clf")[0] == 200
    assert uris(app, name="clf", version="v2.0.0")[0] == 404
    origin.tag("clf@deprecated#5")
    app.post(f"/api/projects/{project_id}/refresh")
    before = str(app.get(f"/api/projects/{project_id}").json()["lastIndexedAt"])
    wait_indexed(app, project_id, after=before)
    status, body = uris(app, name="clf")
    assert status == 404 and "no registered version" in body["detail"], body


def test_a_refresh_without_new_tags_does_not_reindex(app: TestClient, origin: GitRepo) -> None:
    dvc_project(origin, "m")
    origin.commit("v1")
    origin.tag("clf@v1.0.0")
    project_id = connect(app)
    indexed = app.get(f"/api/projects/{project_id}").json()
    assert app.post(f"/api/projects/{project_id}/refresh").status_code == 202
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = app.get(f"/api/projects/{project_id}").json()
        if now["lastFetchedAt"] != indexed["lastFetchedAt"]:
            break
        time.sleep(0.05)
    assert now["lastFetchedAt"] != indexed["lastFetchedAt"]
    assert now["lastIndexedAt"] == indexed["lastIndexedAt"]


def test_an_unreachable_repository_is_an_error_state_never_a_500(app: TestClient) -> None:
    response = app.post("/api/create-project", json={"repo_url": "https://git.example.com/acme/missing"})
    assert response.status_code == 201
    project_id = response.json()["projects"][0]["id"]
    shown = wait_indexed(app, project_id)
    assert shown["state"] == "error" and shown["error"], shown
    response = app.get(
        "/api/model-registry/get-download-uris",
        params={"repo": "https://git.example.com/acme/missing", "name": "clf"},
    )
    assert response.status_code == 503 and response.headers["retry-after"]
    assert "could not be fetched" in response.json()["detail"]


def test_broken_files_are_problems_not_failures(app: TestClient, origin: GitRepo) -> None:
    dvc_project(origin, "m")
    origin.write("dvc.yaml", "artifacts: [unclosed\n")
    origin.commit("broken")
    origin.tag("clf@v1.0.0")
    connect(app)
    status, body = uris(app, name="clf")
    assert status == 404, body
    assert "not declared in a dvc.yaml" in body["detail"]


def test_ten_thousand_tags(app: TestClient, origin: GitRepo) -> None:
    dvc_project(origin, "m")
    commit = origin.commit("v1")
    # git fast-import writes 10,000 annotated tag objects in one process; half are outside GTO's grammar.
    stream = []
    for i in range(10_000):
        name = f"clf@v0.{i // 100}.{i % 100}" if i % 2 == 0 else f"release-{i}"
        stream.append(
            f"tag {name}\nfrom {commit}\ntagger t <t@example.com> {1_767_225_600 + i} +0000\n"
            f"data {len(name)}\n{name}\n"
        )
    subprocess.run(
        ["git", "fast-import", "--quiet"], input="".join(stream), cwd=origin.path, text=True, check=True
    )
    project_id = connect(app)
    shown = app.get(f"/api/projects/{project_id}").json()
    assert shown["state"] == "ready" and shown["tagsIgnored"] == 5_000, shown
    digest = md5("m")
    assert uris(app, name="clf") == (
        200,
        {"models/model.pkl": f"{REMOTE}/files/md5/{digest[:2]}/{digest[2:]}"},
    )
    assert uris(app, name="clf", version="v0.99.98")[0] == 200
    assert uris(app, name="clf", version="v0.99.99")[0] == 404


def directory_project(repo: GitRepo, remote: str, files: dict[str, bytes]) -> tuple[str, bytes]:
    """`dvc add models/clf-dir` of these files, with `remote` as the default remote: the .dir manifest
    (JSON list sorted by relpath, as dvc-data writes it) and its md5."""
    entries = [{"md5": hashlib.md5(data).hexdigest(), "relpath": rel} for rel, data in sorted(files.items())]
    manifest = json.dumps(entries, sort_keys=True).encode()
    digest = hashlib.md5(manifest).hexdigest()
    repo.write(".dvc/config", f"[core]\n    remote = web\n['remote \"web\"']\n    url = {remote}\n")
    repo.write(
        "models/clf-dir.dvc",
        f"outs:\n- md5: {digest}.dir\n  size: 10\n  nfiles: {len(files)}\n  hash: md5\n  path: clf-dir\n",
    )
    repo.write(
        "dvc.yaml",
        "artifacts:\n  clf-dir:\n    path: models/clf-dir\n    type: model\n"
        "  weights:\n    path: models/clf-dir/weights.bin\n",
    )
    return digest, manifest


def test_a_directory_is_expanded_from_its_manifest_fetched_once(
    app: TestClient, origin: GitRepo, tmp_path: Path
) -> None:
    files = {"weights.bin": b"W" * 100, "sub/config.json": b"{}"}
    with serving_files(tmp_path / "remote") as remote:
        digest, manifest = directory_project(origin, remote.url + "/store", files)
        remote.put(f"store/files/md5/{digest[:2]}/{digest[2:]}.dir", manifest)
        origin.commit("dir")
        origin.tag("clf-dir@v1.0.0")
        origin.tag("weights@v1.0.0")
        connect(app)

        def object_of(data: bytes) -> str:
            sum_ = hashlib.md5(data).hexdigest()
            return f"{remote.url}/store/files/md5/{sum_[:2]}/{sum_[2:]}"

        expected = {f"models/clf-dir/{rel}": object_of(data) for rel, data in files.items()}
        for _ in range(3):
            assert uris(app, name="clf-dir") == (200, expected)
        # A file inside a tracked directory: its entry of the same manifest.
        weights = {"models/clf-dir/weights.bin": object_of(files["weights.bin"])}
        assert uris(app, name="weights") == (200, weights)
        assert remote.gets[f"/store/files/md5/{digest[:2]}/{digest[2:]}.dir"] == 1  # then cached


def test_a_corrupt_or_missing_manifest_is_a_clear_error(
    app: TestClient, origin: GitRepo, tmp_path: Path
) -> None:
    with serving_files(tmp_path / "remote") as remote:
        digest, _ = directory_project(origin, remote.url + "/store", {"weights.bin": b"W"})
        origin.commit("dir")
        origin.tag("clf-dir@v1.0.0")
        connect(app)
        status, body = uris(app, name="clf-dir")  # not in the remote at all
        assert status == 503 and list(body) == ["detail"], body
        remote.put(f"store/files/md5/{digest[:2]}/{digest[2:]}.dir", b'[{"md5": "00", "relpath": "../x"}]')
        status, body = uris(app, name="clf-dir")
        assert status == 422 and "manifest" in body["detail"], body


def test_a_remote_that_cannot_be_signed_for_is_422(app: TestClient, origin: GitRepo) -> None:
    dvc_project(origin, "m")
    origin.write(
        ".dvc/config", "[core]\n    remote = box\n['remote \"box\"']\n    url = ssh://box.example/store\n"
    )
    origin.commit("ssh remote")
    origin.tag("clf@v1.0.0")
    connect(app)
    status, body = uris(app, name="clf")
    assert status == 422 and list(body) == ["detail"], body


def test_a_private_repository_does_not_leak_through_downloads(app: TestClient, origin: GitRepo) -> None:
    dvc_project(origin, "m")
    origin.commit("v1")
    origin.tag("clf@v1.0.0")
    connect(app)
    bob = {"Authorization": f"token {app.app.state.bob}"}  # type: ignore[attr-defined]
    params = {"repo": REPO, "name": "clf"}
    refused = app.get("/api/model-registry/get-download-uris", params=params, headers=bob)
    unknown = app.get(
        "/api/model-registry/get-download-uris", params={**params, "repo": REPO + "-other"}, headers=bob
    )
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["detail"].replace(REPO, "X") == unknown.json()["detail"].replace(
        REPO + "-other", "X"
    )
    app.post("/api/create-project", json={"repo_url": REPO, "public": True, "subdir": "pub"})
    assert app.get("/api/model-registry/get-download-uris", params=params, headers=bob).status_code == 200
    for form in ("git@git.example.com:acme/models.git", "acme/models", "https://git.example.com/acme/models"):
        assert uris(app, name="clf", repo=form)[0] == 200, form


def test_periodic_refresh_picks_up_new_tags(
    tmp_path: Path, database_url: str, engine: Engine, origin: GitRepo
) -> None:
    dvc_project(origin, "m")
    origin.commit("v1")
    origin.tag("clf@v1.0.0")
    with serving_app(tmp_path, database_url, engine, origin, refresh_interval=0.3) as client:
        connect(client)
        assert uris(client, name="clf", stage="prod")[0] == 404
        origin.tag("clf#prod#1")
        deadline = time.monotonic() + 20
        while uris(client, name="clf", stage="prod")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert uris(client, name="clf", stage="prod")[0] == 200


def test_a_repository_that_never_answers_stalls_nothing_else(
    tmp_path: Path, database_url: str, engine: Engine, origin: GitRepo
) -> None:
    """Both Git workers stuck on fetches that never get an answer: requests are answered as fast as ever,
    the fetches end at git.fetch_timeout, and their projects show why."""
    dvc_project(origin, "m")
    origin.commit("v1")
    origin.tag("clf@v1.0.0")
    with silent_server() as port:
        stuck = {"prefix": "https://stuck.example.com/", "to": f"http://127.0.0.1:{port}/"}
        rewrite = {"prefix": "https://git.example.com/acme/", "to": origin.path.parent.as_uri() + "/"}
        with serving_app(
            tmp_path, database_url, engine, origin, fetch_timeout=6, rewrite=[rewrite, stuck]
        ) as client:
            connect(client)  # indexed before the workers get stuck
            stuck_ids = []
            for name in ("one", "two", "three"):
                made = client.post(
                    "/api/create-project", json={"repo_url": f"https://stuck.example.com/{name}"}
                )
                assert made.status_code == 201, made.text
                stuck_ids.append(made.json()["projects"][0]["id"])
            slowest = 0.0
            for _ in range(20):
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                assert uris(client, name="clf")[0] == 200
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.05)
            assert slowest < 1.0, slowest  # the stall would be the 6 s fetch timeout
            # A download from a repository still being fetched waits for it within dvc's 5 s, then 503.
            started = time.monotonic()
            response = client.get(
                "/api/model-registry/get-download-uris",
                params={"repo": "https://stuck.example.com/three", "name": "clf"},
            )
            assert time.monotonic() - started < 4.8
            assert response.status_code == 503 and response.headers["retry-after"] == "5", response.text
            assert "is being indexed" in response.json()["detail"]
            shown = wait_indexed(client, stuck_ids[0])
            assert shown["state"] == "error" and "timed out" in str(shown["error"]), shown
