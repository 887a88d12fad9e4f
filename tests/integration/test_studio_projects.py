"""`POST /api/create-project` and the project routes, on both backends: the accepted URL forms and their
one identity, every refusal with its status and `{"detail"}` body, teams, visibility and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from modelshelf.app import create_app
from modelshelf.auth.principal import CLI
from modelshelf.services import accounts
from modelshelf.settings import GitSettings, Settings
from modelshelf.store.session import Database

BASE = "https://models.example.com"


@pytest.fixture
def studio(tmp_path: Path, database_url: str, engine: Engine) -> TestClient:
    # No periodic refresh, and every repository rewritten to a local path that does not exist: these tests
    # are about projects, not fetching (test_git_models.py covers that), and must not touch the network.
    nowhere = (tmp_path / "nowhere").as_uri() + "/"
    rewrites = [
        {"prefix": prefix, "to": nowhere}
        for prefix in ("https://", "ssh://", "git@github.com:", "git@gitlab.com:")
    ]
    git = GitSettings.model_validate({"refresh_interval": 0, "fetch_timeout": 5, "rewrite": rewrites})
    settings = Settings(data_dir=tmp_path, database_url=database_url, public_url=BASE, git=git)
    client = TestClient(create_app(settings, engine), raise_server_exceptions=False)
    client.__enter__()
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def people(engine: Engine) -> dict[str, str]:
    """Tokens: alice and bob (projects:create + models:read), carol (models:read), an admin; team ml
    with alice as member."""
    tokens = {}
    with Database(engine).write() as conn:
        for name in ("alice", "bob", "carol", "root"):
            accounts.create_user(conn, name, admin=name == "root", actor=CLI)
        accounts.create_team(conn, "ml", actor=CLI)
        accounts.set_member(conn, "ml", "alice", "member", actor=CLI)
        scopes = {
            "alice": ["projects:create", "models:read"],
            "bob": ["projects:create", "models:read"],
            "carol": ["models:read"],
            "root": ["admin"],
        }
        for name, granted in scopes.items():
            tokens[name] = accounts.create_token(conn, name, "t", granted, actor=CLI)[1]
    return tokens


def post(client: TestClient, token: str, body: object) -> tuple[int, dict[str, object]]:
    response = client.post("/api/create-project", json=body, headers={"Authorization": f"token {token}"})
    return response.status_code, response.json()


def get(client: TestClient, token: str, path: str) -> tuple[int, dict[str, object]]:
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json()


def test_create_project_answers_as_studio_does(studio: TestClient, people: dict[str, str]) -> None:
    status, body = post(studio, people["alice"], {"repo_url": "https://github.com/acme/example-get-started"})
    assert status == 201, body
    [project] = body["projects"]  # type: ignore[misc]
    assert set(project) == {"id", "url", "name"}
    assert re.fullmatch(r"[a-z0-9]{10}", project["id"])
    assert project["name"] == "example-get-started"
    assert project["url"] == f"{BASE}/user/alice/projects/example-get-started-{project['id']}"

    status, body = post(
        studio,
        people["alice"],
        {
            "repo_url": "git@github.com:acme/other.git",
            "team_name": "ml",
            "name": "test-nested",
            "public": True,
        },
    )
    assert status == 201, body
    [project] = body["projects"]  # type: ignore[misc]
    assert project["url"] == f"{BASE}/team/ml/projects/test-nested-{project['id']}"


def test_the_forms_of_one_repository_are_one_repository(studio: TestClient, people: dict[str, str]) -> None:
    assert post(studio, people["alice"], {"repo_url": "https://github.com/acme/models.git"})[0] == 201
    for form in (
        "https://github.com/acme/models",
        "git@github.com:acme/models.git",
        "ssh://git@github.com/acme/models.git",
        "https://github.com/acme/models/",
    ):
        status, body = post(studio, people["alice"], {"repo_url": form})
        assert status == 409, (form, body)
        assert "already exists" in str(body["detail"])
    # Another namespace may connect the same repository; the index is shared.
    assert post(studio, people["bob"], {"repo_url": "git@github.com:acme/models.git"})[0] == 201
    status, listed = get(studio, people["root"], "/api/projects")
    repos = {item["repo"] for item in listed["items"]}  # type: ignore[union-attr]
    assert repos == {"github.com/acme/models"}


def test_a_comma_separated_subdir_makes_one_project_each(studio: TestClient, people: dict[str, str]) -> None:
    status, body = post(
        studio, people["alice"], {"repo_url": "https://gitlab.com/g/sub/mono.git", "subdir": "cv, nlp/text"}
    )
    assert status == 201, body
    names = [p["name"] for p in body["projects"]]  # type: ignore[union-attr]
    assert names == ["mono-cv", "mono-nlp-text"]
    again_body = {"repo_url": "https://gitlab.com/g/sub/mono", "subdir": "cv"}
    status, again = post(studio, people["alice"], again_body)
    assert status == 409, again


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "repo_url is required"),
        ({"repo_url": ""}, 400, "repo_url is required"),
        ({"repo_url": 5}, 400, "repo_url is required"),
        ({"repo_url": "not a url"}, 400, ""),
        ({"repo_url": "ftp://host/org/repo.git"}, 400, "ftp"),
        ({"repo_url": "file:///srv/git/repo.git"}, 400, "file"),
        ({"repo_url": "https://github.com/a/b", "subdir": "/abs"}, 400, "subdir"),
        ({"repo_url": "https://github.com/a/b", "subdir": "../up"}, 400, "subdir"),
        ({"repo_url": "https://github.com/a/b", "subdir": "a/../b"}, 400, "subdir"),
        ({"repo_url": "https://github.com/a/b", "public": "yes"}, 400, "public"),
        ({"repo_url": "https://github.com/a/b", "name": "bad name!"}, 400, "name"),
        ({"repo_url": "https://github.com/a/b", "colour": "red"}, 400, "unknown field"),
        ({"repo_url": "https://github.com/a/b", "team_name": "nosuch"}, 404, "team"),
        ({"repo_url": "https://github.com/a/b", "team_name": "ml"}, 403, "not a member"),
        ({"repo_url": "https://127.0.0.1:8080/a/b.git"}, 400, "this server"),
        ({"repo_url": "https://169.254.169.254/latest/meta-data"}, 400, "link-local"),
        ({"repo_url": "ssh://git@localhost/a/b.git"}, 400, "this server"),
    ],
)
def test_create_project_refusals(
    studio: TestClient, people: dict[str, str], body: dict[str, object], status: int, message: str
) -> None:
    got, answer = post(studio, people["bob"], body)
    assert got == status, answer
    assert list(answer) == ["detail"]
    assert message in str(answer["detail"])


def test_a_body_that_is_not_json_is_400(studio: TestClient, people: dict[str, str]) -> None:
    response = studio.post(
        "/api/create-project", content=b"{nope", headers={"Authorization": f"token {people['alice']}"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_credentials_in_the_url_are_refused_without_echoing_them(
    studio: TestClient, people: dict[str, str]
) -> None:
    status, body = post(studio, people["alice"], {"repo_url": "https://user:hunter2@github.com/a/b.git"})
    assert status == 400
    assert "hunter2" not in json.dumps(body)


def test_private_projects_are_invisible_to_others(studio: TestClient, people: dict[str, str]) -> None:
    _, mine = post(studio, people["alice"], {"repo_url": "https://github.com/acme/private"})
    _, team = post(studio, people["alice"], {"repo_url": "https://github.com/acme/team", "team_name": "ml"})
    _, public = post(studio, people["bob"], {"repo_url": "https://github.com/acme/public", "public": True})
    mine_id = mine["projects"][0]["id"]  # type: ignore[index]
    team_id = team["projects"][0]["id"]  # type: ignore[index]
    public_id = public["projects"][0]["id"]  # type: ignore[index]

    def visible(token: str) -> set[str]:
        status, body = get(studio, token, "/api/projects")
        assert status == 200, body
        return {item["id"] for item in body["items"]}  # type: ignore[union-attr]

    assert visible(people["alice"]) == {mine_id, team_id, public_id}
    assert visible(people["bob"]) == {public_id}
    assert visible(people["carol"]) == {public_id}
    assert visible(people["root"]) == {mine_id, team_id, public_id}
    for project_id in (mine_id, team_id):
        status, body = get(studio, people["bob"], f"/api/projects/{project_id}")
        assert status == 404 and body == {"detail": f"project '{project_id}' not found"}
    status, body = get(studio, people["alice"], f"/api/projects/{mine_id}")
    assert status == 200
    assert body["repo"] == "github.com/acme/private" and body["state"] in ("pending", "error")
    assert body["webhookSecret"]  # the owner may set up the webhook
    status, body = get(studio, people["carol"], f"/api/projects/{public_id}")
    assert status == 200 and "webhookSecret" not in body


def test_only_managers_refresh_and_delete(studio: TestClient, people: dict[str, str]) -> None:
    _, public = post(studio, people["bob"], {"repo_url": "https://github.com/acme/public", "public": True})
    project_id = public["projects"][0]["id"]  # type: ignore[index]
    alice = {"Authorization": f"token {people['alice']}"}
    bob = {"Authorization": f"token {people['bob']}"}
    refused = studio.post(f"/api/projects/{project_id}/refresh", headers=alice)
    assert refused.status_code == 403 and "owner" in refused.json()["detail"]
    assert studio.delete(f"/api/projects/{project_id}", headers=alice).status_code == 403
    assert studio.post(f"/api/projects/{project_id}/refresh", headers=bob).status_code == 202
    assert studio.delete(f"/api/projects/{project_id}", headers=bob).status_code == 204
    assert studio.get(f"/api/projects/{project_id}", headers=bob).status_code == 404
    assert studio.delete(f"/api/projects/{project_id}", headers=bob).status_code == 404


def test_webhooks_need_the_projects_secret(studio: TestClient, people: dict[str, str]) -> None:
    _, made = post(studio, people["alice"], {"repo_url": "https://github.com/acme/hooked"})
    project_id = made["projects"][0]["id"]  # type: ignore[index]
    _, shown = get(studio, people["alice"], f"/api/projects/{project_id}")
    secret = str(shown["webhookSecret"])
    payload = b'{"ref": "refs/tags/model@v1.0.0"}'
    url = f"/api/webhooks/git/{project_id}"

    def signed(key: str) -> str:
        return "sha256=" + hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()

    github = studio.post(url, content=payload, headers={"X-Hub-Signature-256": signed(secret)})
    assert github.status_code == 202, github.text
    bitbucket = studio.post(url, content=payload, headers={"X-Hub-Signature": signed(secret)})
    assert bitbucket.status_code == 202
    assert studio.post(url, content=payload, headers={"X-Gitlab-Token": secret}).status_code == 202
    ping = studio.post(
        url, content=payload, headers={"X-Hub-Signature-256": signed(secret), "X-GitHub-Event": "ping"}
    )
    assert ping.json() == {"detail": "pong"}
    for headers in (
        {},
        {"X-Hub-Signature-256": signed("wrong")},
        {"X-Hub-Signature-256": "sha1=" + signed(secret)[7:]},
        {"X-Gitlab-Token": "wrong"},
    ):
        refused = studio.post(url, content=payload, headers=headers)
        assert refused.status_code == 401, headers
        assert list(refused.json()) == ["detail"]
    assert studio.post("/api/webhooks/git/nosuchproj", content=payload).status_code == 404
