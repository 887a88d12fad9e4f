"""The admin API: users, teams, tokens and the audit trail, and how tokens authenticate everywhere."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import Engine, update
from starlette.testclient import TestClient

from modelshelf.auth.principal import CLI
from modelshelf.auth.tokens import token_hash
from modelshelf.services import accounts
from modelshelf.store.session import Database
from modelshelf.store.tables import api_token
from tests.integration.kf import V1, error, ok

ADMIN = "/api/admin/v1"
MODELS = f"{V1}/registered_models"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
SECRET = re.compile(r"msh_[A-Za-z0-9_-]{43}")
MISSING = "authentication required: send 'Authorization: Bearer <token>'"
MALFORMED = "malformed Authorization header: expected 'Bearer <token>' or 'token <token>'"
INVALID = "invalid, expired or revoked token"
NAME_RULE = "use 1-64 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
READ = ["models:read"]
WRITE = ["models:write"]


# --- helpers -----------------------------------------------------------------------------------------


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def when(text: str) -> datetime:
    assert ISO.fullmatch(text), text
    return datetime.fromisoformat(text)


def create_user(client: TestClient, name: str, *, admin: bool = False) -> dict[str, Any]:
    return ok(client.post(f"{ADMIN}/users", json={"name": name, "admin": admin}), 201)  # type: ignore[no-any-return]


def create_team(client: TestClient, name: str) -> dict[str, Any]:
    return ok(client.post(f"{ADMIN}/teams", json={"name": name}), 201)  # type: ignore[no-any-return]


def create_token(
    client: TestClient, user: str, name: str = "ci", scopes: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """A new token's full creation body, secret included (in "token")."""
    body = {"user": user, "name": name, "scopes": WRITE if scopes is None else scopes, **extra}
    return ok(client.post(f"{ADMIN}/tokens", json=body), 201)  # type: ignore[no-any-return]


def user_with_token(client: TestClient, name: str, scopes: list[str] | None = None) -> dict[str, Any]:
    create_user(client, name)
    return create_token(client, name, scopes=scopes)


def unauthorized(response: Any, message: str) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.json() == {"code": "Unauthorized", "message": message}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="modelshelf"'


def forbidden(response: Any, scope: str) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.json() == {"code": "Forbidden", "message": f"this token lacks the '{scope}' scope"}


def events(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    page = ok(client.get(f"{ADMIN}/audit", params=params))
    assert page["nextPageToken"] == ""
    return page["items"]  # type: ignore[no-any-return]


def without_id_and_time(event: dict[str, Any]) -> dict[str, Any]:
    assert event["id"].isdigit()
    when(event["time"])
    return {k: v for k, v in event.items() if k not in ("id", "time")}


def expire(engine: Engine, token_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(api_token).where(api_token.c.id == int(token_id)).values(expire_time=1))


# --- users -------------------------------------------------------------------------------------------


def test_create_user_answers_201_with_the_user_get_returns(client: TestClient) -> None:
    before = datetime.now().astimezone()
    created = create_user(client, "alice")
    assert set(created) == {"name", "admin", "disabled", "createdAt"}
    assert created["name"] == "alice" and created["admin"] is False and created["disabled"] is False
    assert abs(when(created["createdAt"]) - before) < timedelta(minutes=1)
    assert ok(client.get(f"{ADMIN}/users/alice")) == created


def test_create_admin_user(client: TestClient) -> None:
    created = create_user(client, "root2", admin=True)
    assert created["admin"] is True and created["disabled"] is False
    # admin defaults to false when absent
    assert ok(client.post(f"{ADMIN}/users", json={"name": "plain"}), 201)["admin"] is False


def test_users_are_listed_by_name_including_the_bootstrap_admin(client: TestClient) -> None:
    created = [create_user(client, name) for name in ("zoe", "bob", "carol")]
    listed = ok(client.get(f"{ADMIN}/users"))
    assert set(listed) == {"items"}
    assert [u["name"] for u in listed["items"]] == ["admin", "bob", "carol", "zoe"]
    admin = listed["items"][0]
    assert admin["admin"] is True and admin["disabled"] is False and ISO.fullmatch(admin["createdAt"])
    for user in created:
        assert user in listed["items"]


def test_patch_user_toggles_disabled_and_admin(client: TestClient) -> None:
    created = create_user(client, "dave")
    disabled = ok(client.patch(f"{ADMIN}/users/dave", json={"disabled": True}))
    assert disabled == {**created, "disabled": True}
    promoted = ok(client.patch(f"{ADMIN}/users/dave", json={"admin": True, "disabled": False}))
    assert promoted == {**created, "admin": True}
    assert ok(client.get(f"{ADMIN}/users/dave")) == promoted
    # an empty patch changes nothing
    assert ok(client.patch(f"{ADMIN}/users/dave", json={})) == promoted


def test_get_or_patch_unknown_user_is_404(client: TestClient) -> None:
    error(client.get(f"{ADMIN}/users/nobody"), 404, "user 'nobody' not found")
    error(client.patch(f"{ADMIN}/users/nobody", json={"disabled": True}), 404, "nobody")
    error(client.get(f"{ADMIN}/users/Admin"), 404)  # names are not case-folded


def test_duplicate_user_is_a_conflict(client: TestClient) -> None:
    create_user(client, "erin")
    body = error(
        client.post(f"{ADMIN}/users", json={"name": "erin"}), 409, "a user named 'erin' already exists"
    )
    assert body["code"] == "Conflict"
    error(client.post(f"{ADMIN}/users", json={"name": "admin"}), 409, "user named 'admin'")


def test_users_and_teams_share_one_namespace(client: TestClient) -> None:
    create_user(client, "frank")
    create_team(client, "ml")
    error(client.post(f"{ADMIN}/teams", json={"name": "frank"}), 409, "a user named 'frank' already exists")
    error(client.post(f"{ADMIN}/users", json={"name": "ml"}), 409, "a team named 'ml' already exists")
    assert [u["name"] for u in ok(client.get(f"{ADMIN}/users"))["items"]] == ["admin", "frank"]
    assert [t["name"] for t in ok(client.get(f"{ADMIN}/teams"))["items"]] == ["ml"]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Alice", "'Alice'"),
        ("", "''"),
        ("a" * 65, "'aaaa"),
        ("../x", "'../x'"),
        ("-a", "'-a'"),
        ("a.", "'a.'"),
        ("a b", "'a b'"),
        ("a\n", "'a\\n'"),
        (5, "5"),
        (["a"], "['a']"),
        (None, "None"),
    ],
)
def test_invalid_user_names_are_rejected(client: TestClient, name: object, shown: str) -> None:
    body = error(
        client.post(f"{ADMIN}/users", json={"name": name}), 400, f"invalid user name {shown}", NAME_RULE
    )
    assert body["code"] == "Bad Request"
    assert [u["name"] for u in ok(client.get(f"{ADMIN}/users"))["items"]] == ["admin"]


def test_missing_user_name_is_rejected(client: TestClient) -> None:
    error(client.post(f"{ADMIN}/users", json={"admin": True}), 400, "invalid user name None", NAME_RULE)


def test_longest_and_punctuated_names_are_accepted(client: TestClient) -> None:
    for name in ("a" * 64, "a", "0", "a.b_c-d"):
        assert create_user(client, name)["name"] == name


def test_unknown_or_mistyped_fields_are_rejected(client: TestClient) -> None:
    error(
        client.post(f"{ADMIN}/users", json={"name": "gina", "email": "g@x"}),
        400,
        "unknown field 'email': expected admin, name",
    )
    error(
        client.post(f"{ADMIN}/users", json={"name": "gina", "admin": "yes"}),
        400,
        "admin must be true or false",
    )
    create_user(client, "gina")
    error(client.patch(f"{ADMIN}/users/gina", json={"name": "x"}), 400, "unknown field 'name'")
    error(client.patch(f"{ADMIN}/users/gina", json={"disabled": 1}), 400, "disabled must be true or false")
    assert ok(client.get(f"{ADMIN}/users/gina"))["disabled"] is False


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"[]", "request body must be a JSON object"),
        (b'"alice"', "request body must be a JSON object"),
        (b"null", "request body must be a JSON object"),
        (b'{"name": ', "malformed JSON body"),
        (b"", "request body is empty; a JSON object is required"),
        (b"  \n", "request body is empty; a JSON object is required"),
    ],
)
def test_bodies_that_are_not_json_objects_are_rejected(
    client: TestClient, content: bytes, fragment: str
) -> None:
    headers = {"Content-Type": "application/json"}
    error(client.post(f"{ADMIN}/users", content=content, headers=headers), 400, fragment)
    error(client.post(f"{ADMIN}/tokens", content=content, headers=headers), 400, fragment)


def test_an_admin_cannot_lock_themselves_out(client: TestClient) -> None:
    message = "you cannot disable yourself or remove your own admin rights"
    error(client.patch(f"{ADMIN}/users/admin", json={"disabled": True}), 400, message)
    error(client.patch(f"{ADMIN}/users/admin", json={"admin": False}), 400, message)
    admin = ok(client.get(f"{ADMIN}/users/admin"))
    assert admin["admin"] is True and admin["disabled"] is False


def test_another_admin_may_demote_the_bootstrap_admin(client: TestClient) -> None:
    create_user(client, "boss", admin=True)
    boss = create_token(client, "boss", scopes=["admin"])["token"]
    demoted = ok(client.patch(f"{ADMIN}/users/admin", json={"admin": False}, headers=bearer(boss)))
    assert demoted["name"] == "admin" and demoted["admin"] is False
    # the bootstrap token still names the admin scope, but no longer grants it
    forbidden(client.get(f"{ADMIN}/users"), "admin")


def test_a_nul_in_a_name_is_simply_not_found(client: TestClient) -> None:
    error(client.get(f"{ADMIN}/users/a%00"), 404, "user 'a\\x00' not found")
    error(client.get(f"{ADMIN}/teams/a%00"), 404, "team 'a\\x00' not found")
    error(client.put(f"{ADMIN}/teams/a%00/members/admin", json={}), 404, "team 'a\\x00' not found")
    body = {"user": "admin\x00", "name": "x", "scopes": READ}
    error(client.post(f"{ADMIN}/tokens", json=body), 404, "user 'admin\\x00' not found")


# --- teams -------------------------------------------------------------------------------------------


def test_create_team_answers_201_with_no_members(client: TestClient) -> None:
    created = create_team(client, "vision")
    assert set(created) == {"name", "disabled", "createdAt", "members"}
    assert created["name"] == "vision" and created["disabled"] is False and created["members"] == []
    when(created["createdAt"])
    assert ok(client.get(f"{ADMIN}/teams/vision")) == created


def test_invalid_or_duplicate_team_names_are_rejected(client: TestClient) -> None:
    error(
        client.post(f"{ADMIN}/teams", json={"name": "Vision"}), 400, "invalid team name 'Vision'", NAME_RULE
    )
    error(client.post(f"{ADMIN}/teams", json={}), 400, "invalid team name None")
    error(client.post(f"{ADMIN}/teams", json={"name": "t", "x": 1}), 400, "unknown field 'x': expected name")
    create_team(client, "nlp")
    error(client.post(f"{ADMIN}/teams", json={"name": "nlp"}), 409, "a team named 'nlp' already exists")


def test_put_member_defaults_to_member_and_can_change_role(client: TestClient) -> None:
    create_team(client, "ml")
    create_user(client, "hank")
    added = ok(client.put(f"{ADMIN}/teams/ml/members/hank", json={}))
    assert added["name"] == "ml" and added["members"] == [{"user": "hank", "role": "member"}]
    promoted = ok(client.put(f"{ADMIN}/teams/ml/members/hank", json={"role": "owner"}))
    assert promoted["members"] == [{"user": "hank", "role": "owner"}]
    demoted = ok(client.put(f"{ADMIN}/teams/ml/members/hank", json={"role": "member"}))
    assert demoted["members"] == [{"user": "hank", "role": "member"}]
    assert ok(client.get(f"{ADMIN}/teams/ml")) == demoted


def test_put_member_without_a_body_adds_a_member(client: TestClient) -> None:
    create_team(client, "ml")
    create_user(client, "ivy")
    added = ok(client.put(f"{ADMIN}/teams/ml/members/ivy"))
    assert added["members"] == [{"user": "ivy", "role": "member"}]


def test_teams_are_listed_by_name_with_their_members_by_name(client: TestClient) -> None:
    for team in ("web", "data"):
        create_team(client, team)
    for user in ("ivy", "abe"):
        create_user(client, user)
    ok(client.put(f"{ADMIN}/teams/data/members/ivy", json={"role": "owner"}))
    ok(client.put(f"{ADMIN}/teams/data/members/abe", json={"role": "member"}))
    ok(client.put(f"{ADMIN}/teams/web/members/ivy", json={}))
    listed = ok(client.get(f"{ADMIN}/teams"))
    assert set(listed) == {"items"}
    assert [(t["name"], t["disabled"], t["members"]) for t in listed["items"]] == [
        ("data", False, [{"user": "abe", "role": "member"}, {"user": "ivy", "role": "owner"}]),
        ("web", False, [{"user": "ivy", "role": "member"}]),
    ]
    assert listed["items"][0] == ok(client.get(f"{ADMIN}/teams/data"))


def test_delete_member_removes_only_that_member(client: TestClient) -> None:
    create_team(client, "ops")
    for user in ("jan", "kim"):
        create_user(client, user)
        ok(client.put(f"{ADMIN}/teams/ops/members/{user}", json={}))
    after = ok(client.delete(f"{ADMIN}/teams/ops/members/jan"))
    assert after["name"] == "ops" and after["members"] == [{"user": "kim", "role": "member"}]
    assert ok(client.get(f"{ADMIN}/teams/ops")) == after
    # the user still exists
    assert ok(client.get(f"{ADMIN}/users/jan"))["name"] == "jan"


def test_patch_team_disables_and_enables_it(client: TestClient) -> None:
    created = create_team(client, "old")
    disabled = ok(client.patch(f"{ADMIN}/teams/old", json={"disabled": True}))
    assert disabled == {**created, "disabled": True}
    assert ok(client.get(f"{ADMIN}/teams/old")) == disabled
    assert ok(client.patch(f"{ADMIN}/teams/old", json={"disabled": False})) == created
    error(client.patch(f"{ADMIN}/teams/old", json={"disabled": "no"}), 400, "disabled must be true or false")
    error(client.patch(f"{ADMIN}/teams/old", json={"name": "new"}), 400, "unknown field 'name'")


def test_unknown_team_or_user_is_404(client: TestClient) -> None:
    create_team(client, "ml")
    create_user(client, "lee")
    error(client.get(f"{ADMIN}/teams/nope"), 404, "team 'nope' not found")
    error(client.patch(f"{ADMIN}/teams/nope", json={"disabled": True}), 404, "team 'nope' not found")
    error(client.put(f"{ADMIN}/teams/nope/members/lee", json={}), 404, "team 'nope' not found")
    error(client.put(f"{ADMIN}/teams/ml/members/nope", json={}), 404, "user 'nope' not found")
    error(client.delete(f"{ADMIN}/teams/nope/members/lee"), 404, "team 'nope' not found")
    error(client.delete(f"{ADMIN}/teams/ml/members/nope"), 404, "user 'nope' not found")
    assert ok(client.get(f"{ADMIN}/teams/ml"))["members"] == []


@pytest.mark.parametrize("role", ["admin", "Owner", "", None, 1, ["owner"]])
def test_bad_role_is_rejected(client: TestClient, role: object) -> None:
    create_team(client, "ml")
    create_user(client, "max")
    error(
        client.put(f"{ADMIN}/teams/ml/members/max", json={"role": role}), 400, "invalid role", "owner, member"
    )
    assert ok(client.get(f"{ADMIN}/teams/ml"))["members"] == []


def test_removing_a_non_member_is_404(client: TestClient) -> None:
    create_team(client, "ml")
    create_user(client, "ned")
    error(client.delete(f"{ADMIN}/teams/ml/members/ned"), 404, "user 'ned' is not a member of team 'ml'")


def test_put_member_body_takes_only_a_role(client: TestClient) -> None:
    create_team(client, "ml")
    create_user(client, "oli")
    error(client.put(f"{ADMIN}/teams/ml/members/oli", json={"user": "x"}), 400, "unknown field 'user'")
    error(client.put(f"{ADMIN}/teams/ml/members/oli", json=["owner"]), 400, "must be a JSON object")
    assert ok(client.get(f"{ADMIN}/teams/ml"))["members"] == []


# --- tokens: creation and listing --------------------------------------------------------------------


def test_create_token_shows_the_secret_once(client: TestClient) -> None:
    create_user(client, "pat")
    created = create_token(client, "pat", "laptop", ["models:write", "models:read"])
    secret = created["token"]
    assert SECRET.fullmatch(secret), secret
    assert created["prefix"] == secret[:10] and secret.startswith(created["prefix"])
    shown = {k: v for k, v in created.items() if k != "token"}
    assert shown == {
        "id": created["id"],
        "user": "pat",
        "name": "laptop",
        "prefix": created["prefix"],
        "scopes": ["models:read", "models:write"],
        "createdAt": created["createdAt"],
        "expiresAt": None,
        "lastUsedAt": None,
        "revokedAt": None,
    }
    assert created["id"].isdigit()
    when(created["createdAt"])
    one = client.get(f"{ADMIN}/tokens/{created['id']}")
    assert ok(one) == shown
    listed = client.get(f"{ADMIN}/tokens")
    assert shown in ok(listed)["items"]
    for response in (one, listed, client.get(f"{ADMIN}/tokens", params={"user": "pat"})):
        assert secret not in response.text and token_hash(secret) not in response.text
        assert secret[10:20] not in response.text


def test_token_list_filters_by_user_and_never_shows_secrets(client: TestClient, admin_token: str) -> None:
    create_user(client, "quinn")
    mine = create_token(client, "quinn", "a")
    theirs = create_token(client, "admin", "b", ["models:read"])
    everything = client.get(f"{ADMIN}/tokens")
    assert [(t["user"], t["name"]) for t in ok(everything)["items"]] == [
        ("admin", "bootstrap"),
        ("quinn", "a"),
        ("admin", "b"),
    ]
    for secret in (admin_token, mine["token"], theirs["token"]):
        assert secret not in everything.text
    assert [t["name"] for t in ok(client.get(f"{ADMIN}/tokens", params={"user": "quinn"}))["items"]] == ["a"]
    assert [t["name"] for t in ok(client.get(f"{ADMIN}/tokens", params={"user": "admin"}))["items"]] == [
        "bootstrap",
        "b",
    ]
    error(client.get(f"{ADMIN}/tokens", params={"user": "ghost"}), 404, "user 'ghost' not found")


def test_bootstrap_token_holds_every_scope(client: TestClient) -> None:
    (bootstrap,) = ok(client.get(f"{ADMIN}/tokens", params={"user": "admin"}))["items"]
    assert bootstrap["name"] == "bootstrap" and bootstrap["id"] == "1"
    assert bootstrap["scopes"] == ["admin", "metrics:read", "models:read", "models:write", "projects:create"]
    assert bootstrap["expiresAt"] is None and bootstrap["revokedAt"] is None


def test_new_token_works_at_once_with_bearer_and_token_schemes(client: TestClient) -> None:
    secret = user_with_token(client, "rae", READ)["token"]
    ok(client.post(MODELS, json={"name": "seen"}), 201)
    as_admin = ok(client.get(MODELS))
    assert [m["name"] for m in as_admin["items"]] == ["seen"]
    for header in (f"Bearer {secret}", f"token {secret}", f"bearer {secret}", f"  TOKEN   {secret}  "):
        assert ok(client.get(MODELS, headers={"Authorization": header})) == as_admin, header


def test_scopes_are_enforced_on_the_kubeflow_api(client: TestClient) -> None:
    reader = user_with_token(client, "sam", READ)["token"]
    forbidden(client.post(MODELS, json={"name": "m"}, headers=bearer(reader)), "models:write")
    forbidden(client.patch(f"{MODELS}/1", json={}, headers=bearer(reader)), "models:write")
    assert ok(client.get(MODELS))["size"] == 0  # nothing was written
    # models:write implies models:read
    writer = create_token(client, "sam", "writer", WRITE)["token"]
    created = ok(client.post(MODELS, json={"name": "m"}, headers=bearer(writer)), 201)
    assert ok(client.get(f"{MODELS}/{created['id']}", headers=bearer(writer))) == created
    # projects:create alone grants no model access
    other = create_token(client, "sam", "projects", ["projects:create"])["token"]
    forbidden(client.get(MODELS, headers=bearer(other)), "models:read")


def test_only_admin_scope_opens_the_admin_api(client: TestClient) -> None:
    reader = user_with_token(client, "tia", READ)["token"]
    forbidden(client.get(f"{ADMIN}/users", headers=bearer(reader)), "admin")
    forbidden(
        client.post(f"{ADMIN}/users", json={"name": "evil", "admin": True}, headers=bearer(reader)), "admin"
    )
    forbidden(client.get(f"{ADMIN}/audit", headers=bearer(reader)), "admin")
    error(client.get(f"{ADMIN}/users/evil"), 404)


def test_admin_scope_only_for_admin_users(client: TestClient) -> None:
    create_user(client, "uma")
    error(
        client.post(f"{ADMIN}/tokens", json={"user": "uma", "name": "x", "scopes": ["admin"]}),
        400,
        "user 'uma' is not an admin, so cannot hold the 'admin' scope",
    )
    create_user(client, "root", admin=True)
    admin_secret = create_token(client, "root", "x", ["admin"])["token"]
    # admin implies every other scope
    assert ok(client.get(f"{ADMIN}/users", headers=bearer(admin_secret)))["items"][0]["name"] == "admin"
    assert ok(client.post(MODELS, json={"name": "m"}, headers=bearer(admin_secret)), 201)["name"] == "m"


def test_demoted_admin_token_keeps_the_scope_name_but_loses_the_grant(client: TestClient) -> None:
    create_user(client, "vic", admin=True)
    token = create_token(client, "vic", "x", ["admin", "models:read"])
    assert ok(client.get(f"{ADMIN}/users", headers=bearer(token["token"])))
    ok(client.patch(f"{ADMIN}/users/vic", json={"admin": False}))
    forbidden(client.get(f"{ADMIN}/users", headers=bearer(token["token"])), "admin")
    forbidden(client.post(MODELS, json={"name": "m"}, headers=bearer(token["token"])), "models:write")
    assert ok(client.get(MODELS, headers=bearer(token["token"])))["size"] == 0
    assert ok(client.get(f"{ADMIN}/tokens/{token['id']}"))["scopes"] == ["admin", "models:read"]


@pytest.mark.parametrize(
    ("scopes", "fragment"),
    [
        (
            [],
            "a token needs at least one scope: "
            + "models:read, models:write, projects:create, metrics:read, admin",
        ),
        (["models:delete"], "unknown scope 'models:delete': known scopes are"),
        (["models:read", "MODELS:WRITE"], "unknown scope 'MODELS:WRITE'"),
        (5, "scopes must be a list of scope names"),
        ("models:read", "scopes must be a list of scope names"),
        ({"models:read": True}, "scopes must be a list of scope names"),
        ([1], "scopes must be a list of scope names"),
        (None, "scopes must be a list of scope names"),
    ],
)
def test_invalid_scopes_are_rejected(client: TestClient, scopes: object, fragment: str) -> None:
    create_user(client, "wes")
    error(client.post(f"{ADMIN}/tokens", json={"user": "wes", "name": "x", "scopes": scopes}), 400, fragment)
    assert ok(client.get(f"{ADMIN}/tokens", params={"user": "wes"}))["items"] == []


@pytest.mark.parametrize("days", [0, -1, 3651, 1.5, "7", True, [7]])
def test_invalid_expiry_is_rejected(client: TestClient, days: object) -> None:
    create_user(client, "xia")
    body = {"user": "xia", "name": "x", "scopes": READ, "expiresInDays": days}
    error(
        client.post(f"{ADMIN}/tokens", json=body),
        400,
        "the expiry must be a whole number of days from 1 to 3650",
    )
    assert ok(client.get(f"{ADMIN}/tokens", params={"user": "xia"}))["items"] == []


@pytest.mark.parametrize("days", [1, 30, 3650])
def test_expiry_is_that_many_days_after_creation(client: TestClient, days: int) -> None:
    create_user(client, "yan")
    created = create_token(client, "yan", scopes=READ, expiresInDays=days)
    assert when(created["expiresAt"]) - when(created["createdAt"]) == timedelta(days=days)
    assert ok(client.get(f"{ADMIN}/tokens/{created['id']}"))["expiresAt"] == created["expiresAt"]
    assert ok(client.get(MODELS, headers=bearer(created["token"])))["size"] == 0


def test_null_expiry_means_never(client: TestClient) -> None:
    create_user(client, "yul")
    assert create_token(client, "yul", scopes=READ, expiresInDays=None)["expiresAt"] is None


def test_duplicate_token_name_is_per_user(client: TestClient) -> None:
    for user in ("zed", "zara"):
        create_user(client, user)
    first = create_token(client, "zed", "ci")
    error(
        client.post(f"{ADMIN}/tokens", json={"user": "zed", "name": "ci", "scopes": READ}),
        409,
        "user 'zed' already has a token named 'ci'",
    )
    other = create_token(client, "zara", "ci")
    assert other["name"] == "ci" and other["user"] == "zara" and other["id"] != first["id"]
    assert [t["id"] for t in ok(client.get(f"{ADMIN}/tokens", params={"user": "zed"}))["items"]] == [
        first["id"]
    ]


def test_token_for_unknown_missing_or_disabled_user(client: TestClient) -> None:
    error(
        client.post(f"{ADMIN}/tokens", json={"user": "ghost", "name": "x", "scopes": READ}),
        404,
        "user 'ghost' not found",
    )
    error(client.post(f"{ADMIN}/tokens", json={"name": "x", "scopes": READ}), 400, "user is required")
    error(
        client.post(f"{ADMIN}/tokens", json={"user": 1, "name": "x", "scopes": READ}), 400, "user is required"
    )
    create_user(client, "ada")
    ok(client.patch(f"{ADMIN}/users/ada", json={"disabled": True}))
    error(
        client.post(f"{ADMIN}/tokens", json={"user": "ada", "name": "x", "scopes": READ}),
        400,
        "user 'ada' is disabled",
    )


@pytest.mark.parametrize("name", ["", "   ", "a\tb", "x" * 256, 7, None])
def test_invalid_token_names_are_rejected(client: TestClient, name: object) -> None:
    create_user(client, "ben")
    error(
        client.post(f"{ADMIN}/tokens", json={"user": "ben", "name": name, "scopes": READ}),
        400,
        "a token name must be 1-255 printable characters",
    )


def test_token_names_may_be_free_text(client: TestClient) -> None:
    create_user(client, "cal")
    for name in ("My Laptop", "ci/deploy: prod", "x" * 255, "ünïcode"):
        assert create_token(client, "cal", name, READ)["name"] == name


def test_token_body_rejects_unknown_fields(client: TestClient) -> None:
    create_user(client, "dee")
    body = {"user": "dee", "name": "x", "scopes": READ, "expires": 3}
    error(client.post(f"{ADMIN}/tokens", json=body), 400, "unknown field 'expires': expected")


# --- tokens: lifecycle -------------------------------------------------------------------------------


def test_revoked_token_is_refused_on_its_next_request(client: TestClient) -> None:
    token = user_with_token(client, "eve", READ)
    assert ok(client.get(MODELS, headers=bearer(token["token"])))["size"] == 0
    revoked = ok(client.delete(f"{ADMIN}/tokens/{token['id']}"))
    assert revoked["id"] == token["id"] and revoked["user"] == "eve"
    assert when(revoked["revokedAt"]) >= when(token["createdAt"])
    assert "token" not in revoked and token["token"] not in str(revoked)
    unauthorized(client.get(MODELS, headers=bearer(token["token"])), INVALID)
    assert ok(client.get(f"{ADMIN}/tokens/{token['id']}")) == revoked


def test_revoking_again_is_idempotent(client: TestClient) -> None:
    token = user_with_token(client, "fay", READ)
    first = ok(client.delete(f"{ADMIN}/tokens/{token['id']}"))
    again = ok(client.delete(f"{ADMIN}/tokens/{token['id']}"))
    assert again == first and first["revokedAt"] is not None
    revocations = [e for e in events(client, entity=f"token:{token['id']}") if e["action"] == "revoke"]
    assert len(revocations) == 1


def test_unknown_and_malformed_token_ids(client: TestClient) -> None:
    for method in ("GET", "DELETE"):
        error(client.request(method, f"{ADMIN}/tokens/999"), 404, "token 999 not found")
        for bad in ("abc", "-1", "1.5", "12345678901", "1e3"):
            error(client.request(method, f"{ADMIN}/tokens/{bad}"), 400, "invalid token id")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_token_id_beyond_32_bits_is_404(client: TestClient, method: str) -> None:
    error(client.request(method, f"{ADMIN}/tokens/2147483648"), 404, "token 2147483648 not found")


def test_superscript_digit_token_id_is_a_400(client: TestClient) -> None:
    error(client.get(f"{ADMIN}/tokens/²"), 400, "invalid token id")


def test_disabling_the_user_suspends_their_tokens_until_enabled(client: TestClient) -> None:
    token = user_with_token(client, "gus", READ)
    headers = bearer(token["token"])
    ok(client.get(MODELS, headers=headers))
    ok(client.patch(f"{ADMIN}/users/gus", json={"disabled": True}))
    unauthorized(client.get(MODELS, headers=headers), INVALID)
    # the token itself is untouched
    assert ok(client.get(f"{ADMIN}/tokens/{token['id']}"))["revokedAt"] is None
    ok(client.patch(f"{ADMIN}/users/gus", json={"disabled": False}))
    assert ok(client.get(MODELS, headers=headers))["size"] == 0


def test_expired_token_is_refused_like_an_unknown_one(client: TestClient, engine: Engine) -> None:
    token = user_with_token(client, "hal", READ)
    ok(client.get(MODELS, headers=bearer(token["token"])))
    expire(engine, token["id"])
    unauthorized(client.get(MODELS, headers=bearer(token["token"])), INVALID)
    assert ok(client.get(f"{ADMIN}/tokens/{token['id']}"))["expiresAt"] == "1970-01-01T00:00:00.001Z"


def test_last_used_is_null_until_first_use(client: TestClient) -> None:
    token = user_with_token(client, "ian", READ)
    url = f"{ADMIN}/tokens/{token['id']}"
    assert ok(client.get(url))["lastUsedAt"] is None
    assert ok(client.get(url))["lastUsedAt"] is None  # the admin's requests do not count
    ok(client.get(MODELS, headers=bearer(token["token"])))
    used = ok(client.get(url))["lastUsedAt"]
    assert when(used) >= when(token["createdAt"])
    # recorded to the minute: a second use right away does not move it
    ok(client.get(MODELS, headers=bearer(token["token"])))
    assert ok(client.get(url))["lastUsedAt"] == used


def test_a_refused_token_is_not_marked_used(client: TestClient) -> None:
    token = user_with_token(client, "ivo", READ)
    ok(client.delete(f"{ADMIN}/tokens/{token['id']}"))
    unauthorized(client.get(MODELS, headers=bearer(token["token"])), INVALID)
    assert ok(client.get(f"{ADMIN}/tokens/{token['id']}"))["lastUsedAt"] is None


def test_a_token_lacking_the_scope_is_still_marked_used(client: TestClient) -> None:
    token = user_with_token(client, "ira", READ)
    forbidden(client.post(MODELS, json={"name": "m"}, headers=bearer(token["token"])), "models:write")
    assert ok(client.get(f"{ADMIN}/tokens/{token['id']}"))["lastUsedAt"] is not None


# --- 401 ---------------------------------------------------------------------------------------------


def test_no_credentials_is_401(anonymous: TestClient) -> None:
    unauthorized(anonymous.get(MODELS), MISSING)
    unauthorized(anonymous.get(f"{ADMIN}/users"), MISSING)
    unauthorized(anonymous.post(f"{ADMIN}/users", json={"name": "x"}), MISSING)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", MISSING),
        ("   ", MISSING),
        ("Basic xyz", MALFORMED),
        ("Bearer", MALFORMED),
        ("Bearer ", MALFORMED),
        ("Bearer a b", MALFORMED),
        ("Token", MALFORMED),
        ("msh_" + "x" * 43, MALFORMED),
        ("Bearer " + "x" * 513, MALFORMED),
        ("Bearer msh_" + "x" * 43, INVALID),
        ("token nope", INVALID),
    ],
)
def test_bad_credentials_are_401(client: TestClient, header: str, message: str) -> None:
    for url in (MODELS, f"{ADMIN}/users"):
        unauthorized(client.get(url, headers={"Authorization": header}), message)


def test_unknown_expired_revoked_and_disabled_tokens_are_indistinguishable(
    client: TestClient, engine: Engine
) -> None:
    create_user(client, "jo")
    expired = create_token(client, "jo", "expired", READ)
    revoked = create_token(client, "jo", "revoked", READ)
    create_user(client, "kai")
    disabled = create_token(client, "kai", "d", READ)
    expire(engine, expired["id"])
    ok(client.delete(f"{ADMIN}/tokens/{revoked['id']}"))
    ok(client.patch(f"{ADMIN}/users/kai", json={"disabled": True}))
    bodies = set()
    for secret in ("msh_" + "A" * 43, expired["token"], revoked["token"], disabled["token"]):
        response = client.get(MODELS, headers=bearer(secret))
        unauthorized(response, INVALID)
        assert secret not in response.text
        bodies.add(response.content)
    assert len(bodies) == 1


# --- audit -------------------------------------------------------------------------------------------


def test_bootstrap_is_audited_via_the_cli(client: TestClient) -> None:
    bootstrap = events(client, via="cli")
    assert [without_id_and_time(e) for e in bootstrap] == [
        {
            "principal": None,
            "via": "cli",
            "tokenId": None,
            "action": "create",
            "entityType": "token",
            "entityId": "1",
            "detail": {"user": "admin", "name": "bootstrap"},
        },
        {
            "principal": None,
            "via": "cli",
            "tokenId": None,
            "action": "create",
            "entityType": "user",
            "entityId": "admin",
            "detail": {"admin": True},
        },
    ]


def test_audit_lists_newest_first(client: TestClient) -> None:
    create_user(client, "lou")
    create_team(client, "t1")
    listed = events(client)
    ids = [int(e["id"]) for e in listed]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) == 4
    assert [(e["action"], e["entityType"], e["entityId"]) for e in listed] == [
        ("create", "team", "t1"),
        ("create", "user", "lou"),
        ("create", "token", "1"),
        ("create", "user", "admin"),
    ]
    times = [when(e["time"]) for e in listed]
    assert times == sorted(times, reverse=True)


def test_admin_actions_are_audited_with_the_admin_and_token(client: TestClient) -> None:
    create_user(client, "mia")
    token = create_token(client, "mia", "ci", READ)
    ok(client.patch(f"{ADMIN}/users/mia", json={"disabled": True}))
    ok(client.delete(f"{ADMIN}/tokens/{token['id']}"))
    create_team(client, "t")
    ok(client.put(f"{ADMIN}/teams/t/members/mia", json={"role": "owner"}))
    ok(client.delete(f"{ADMIN}/teams/t/members/mia"))
    by_admin = [without_id_and_time(e) for e in events(client, principal="admin")]
    common = {"principal": "admin", "via": "api", "tokenId": "1"}
    assert by_admin == [
        {
            **common,
            "action": "remove_member",
            "entityType": "team",
            "entityId": "t",
            "detail": {"user": "mia"},
        },
        {
            **common,
            "action": "set_member",
            "entityType": "team",
            "entityId": "t",
            "detail": {"user": "mia", "role": "owner"},
        },
        {**common, "action": "create", "entityType": "team", "entityId": "t", "detail": None},
        {
            **common,
            "action": "revoke",
            "entityType": "token",
            "entityId": token["id"],
            "detail": {"user": "mia"},
        },
        {**common, "action": "update", "entityType": "user", "entityId": "mia", "detail": {"disabled": True}},
        {
            **common,
            "action": "create",
            "entityType": "token",
            "entityId": token["id"],
            "detail": {"user": "mia", "name": "ci"},
        },
        {**common, "action": "create", "entityType": "user", "entityId": "mia", "detail": {"admin": False}},
    ]


def test_model_writes_are_audited_with_the_user_and_token(client: TestClient) -> None:
    token = user_with_token(client, "ned", WRITE)
    headers = bearer(token["token"])
    created = ok(client.post(MODELS, json={"name": "fraud"}, headers=headers), 201)
    ok(client.patch(f"{MODELS}/{created['id']}", json={"description": "d"}, headers=headers))
    mine = [without_id_and_time(e) for e in events(client, principal="ned")]
    common = {
        "principal": "ned",
        "via": "api",
        "tokenId": token["id"],
        "entityType": "registered_model",
        "entityId": created["id"],
        "detail": None,
    }
    assert mine == [{**common, "action": "update"}, {**common, "action": "create"}]
    assert events(client)[0] == events(client, principal="ned")[0]


def test_audit_filters_by_principal_entity_and_via(client: TestClient) -> None:
    token = user_with_token(client, "ora", WRITE)
    headers = bearer(token["token"])
    first = ok(client.post(MODELS, json={"name": "a"}, headers=headers), 201)
    second = ok(client.post(MODELS, json={"name": "b"}, headers=headers), 201)
    ok(client.patch(f"{MODELS}/{first['id']}", json={}, headers=headers))
    models = events(client, entity="registered_model")
    assert [(e["action"], e["entityId"]) for e in models] == [
        ("update", first["id"]),
        ("create", second["id"]),
        ("create", first["id"]),
    ]
    only_first = events(client, entity=f"registered_model:{first['id']}")
    assert [e["action"] for e in only_first] == ["update", "create"]
    assert {e["entityId"] for e in only_first} == {first["id"]}
    assert {e["principal"] for e in events(client, principal="ora")} == {"ora"}
    assert events(client, principal="ora", entity="user") == []
    assert [e["entityId"] for e in events(client, principal="admin", entity="user")] == ["ora"]
    assert {(e["principal"], e["via"]) for e in events(client, via="cli")} == {(None, "cli")}
    assert events(client, via="no-auth") == []
    assert events(client, principal="nobody") == []
    assert events(client, entity="registered_model:999") == []


def test_paging_walks_every_event_once_newest_first(client: TestClient) -> None:
    for name in ("pa", "pb", "pc", "pd", "pe"):
        create_user(client, name)
    everything = events(client)
    assert len(everything) == 7
    seen: list[dict[str, Any]] = []
    token = ""
    pages = 0
    while True:
        params = {"pageSize": "2", "nextPageToken": token}  # an empty token means the first page
        page = ok(client.get(f"{ADMIN}/audit", params=params))
        assert len(page["items"]) <= 2
        seen.extend(page["items"])
        pages += 1
        token = page["nextPageToken"]
        if not token:
            break
        assert token == page["items"][-1]["id"]
    assert pages == 4
    assert seen == everything
    ids = [int(e["id"]) for e in seen]
    assert all(a > b for a, b in pairwise(ids))


def test_paging_an_exact_multiple_ends_without_an_empty_page(client: TestClient) -> None:
    create_user(client, "qa")
    create_user(client, "qb")  # four events in all
    first = ok(client.get(f"{ADMIN}/audit", params={"pageSize": 2}))
    second = ok(client.get(f"{ADMIN}/audit", params={"pageSize": 2, "nextPageToken": first["nextPageToken"]}))
    assert len(first["items"]) == len(second["items"]) == 2 and second["nextPageToken"] == ""


def test_paging_keeps_the_filter(client: TestClient) -> None:
    for name in ("ra", "rb", "rc"):
        create_user(client, name)
    page = ok(client.get(f"{ADMIN}/audit", params={"entity": "user", "pageSize": 2}))
    rest = ok(
        client.get(
            f"{ADMIN}/audit", params={"entity": "user", "pageSize": 2, "nextPageToken": page["nextPageToken"]}
        )
    )
    assert [e["entityId"] for e in page["items"] + rest["items"]] == ["rc", "rb", "ra", "admin"]
    assert rest["nextPageToken"] == ""


@pytest.mark.parametrize("size", ["0", "1001", "x", "-1", "1.5", "", "1234567"])
def test_bad_page_size_is_rejected(client: TestClient, size: str) -> None:
    error(
        client.get(f"{ADMIN}/audit", params={"pageSize": size}),
        400,
        "the page size must be between 1 and 1000",
    )


def test_page_size_bounds_are_accepted(client: TestClient) -> None:
    assert len(ok(client.get(f"{ADMIN}/audit", params={"pageSize": "1"}))["items"]) == 1
    assert len(ok(client.get(f"{ADMIN}/audit", params={"pageSize": "1000"}))["items"]) == 2


@pytest.mark.parametrize("token", ["x", "-1", "1.5", "12345678901"])
def test_bad_page_token_is_rejected(client: TestClient, token: str) -> None:
    error(client.get(f"{ADMIN}/audit", params={"nextPageToken": token}), 400, "invalid nextPageToken")


def test_page_token_beyond_32_bits_starts_from_the_newest(client: TestClient) -> None:
    page = ok(client.get(f"{ADMIN}/audit", params={"nextPageToken": "9999999999"}))
    assert page == {"items": events(client), "nextPageToken": ""}


@pytest.mark.parametrize("param", ["pageSize", "nextPageToken"])
def test_superscript_digit_paging_parameters_are_a_400(client: TestClient, param: str) -> None:
    error(client.get(f"{ADMIN}/audit", params={param: "²"}), 400)


def test_entity_id_without_a_type_is_rejected(client: TestClient) -> None:
    error(client.get(f"{ADMIN}/audit", params={"entity": ":5"}), 400, "entity must be <type> or <type>:<id>")


def test_refused_writes_leave_no_audit_event(client: TestClient) -> None:
    token = user_with_token(client, "sue", WRITE)
    headers = bearer(token["token"])
    ok(client.post(MODELS, json={"name": "dup"}, headers=headers), 201)
    before = events(client)
    error(client.post(MODELS, json={"name": "dup"}, headers=headers), 409, "dup")
    error(client.patch(f"{MODELS}/999", json={}, headers=headers), 404)
    error(client.post(f"{ADMIN}/users", json={"name": "sue"}), 409)
    error(client.post(f"{ADMIN}/tokens", json={"user": "sue", "name": "ci", "scopes": READ}), 409)
    error(client.patch(f"{ADMIN}/users/admin", json={"disabled": True}), 400)
    assert events(client) == before


def test_a_chosen_bootstrap_secret_leaves_no_prefix_behind(client: TestClient, engine: Engine) -> None:
    chosen = "CorrectHorseBatteryStaple-2026!!xyz"
    with Database(engine).write() as conn:
        accounts.create_user(conn, "ops", admin=True, actor=CLI)
        accounts.create_token(conn, "ops", "chosen", ["admin"], actor=CLI, secret=chosen)
    listed = client.get(f"{ADMIN}/tokens", params={"user": "ops"})
    assert [t["prefix"] for t in listed.json()["items"]] == ["(custom)"]
    assert "Correct" not in listed.text
    assert client.get(f"{ADMIN}/users", headers={"Authorization": f"Bearer {chosen}"}).status_code == 200
