"""Tokens never leak: not into the server's logs (access log and debug level on), not into error bodies,
not into the database file. The server runs as a real process, so everything it writes is captured."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.serve import Server, request, serving

MODELS = "/api/model_registry/v1/registered_models"


@dataclass(frozen=True)
class ChattyServer:
    url: str
    admin_token: str
    server: Server
    data_dir: Path


@pytest.fixture
def chatty_server(tmp_path: Path) -> Iterator[ChattyServer]:
    """A server that logs as much as it can: debug level and every request."""
    admin_token = "msh_" + secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env |= {
        "MODELSHELF_DATA_DIR": str(tmp_path / "data"),
        "MODELSHELF_ADMIN_TOKEN": admin_token,
        "MODELSHELF_LOG_LEVEL": "debug",
    }
    with serving(env, tmp_path / "server", "--access-log") as server:
        yield ChattyServer(server.base_url, admin_token, server, tmp_path / "data")


def _call(url: str, authorization: str | None, method: str = "GET", body: object = None) -> tuple[int, str]:
    status, raw = request(url, authorization, method, body)
    return status, raw.decode()


def test_no_token_in_logs_error_bodies_or_the_database(chatty_server: ChattyServer) -> None:
    s = chatty_server
    admin = s.admin_token
    assert _call(s.url + MODELS, f"Bearer {admin}", "POST", {"name": "logged-model"})[0] == 201

    status, text = _call(
        s.url + "/api/admin/v1/tokens",
        f"token {admin}",
        "POST",
        {"user": "admin", "name": "short-lived", "scopes": ["models:read"]},
    )
    assert status == 201
    created = json.loads(text)
    issued = created["token"]
    assert _call(s.url + MODELS, f"Bearer {issued}")[0] == 200
    assert _call(s.url + f"/api/admin/v1/tokens/{created['id']}", f"Bearer {admin}", "DELETE")[0] == 200

    unknown = "msh_" + secrets.token_urlsafe(32)
    refused = {
        "revoked": f"Bearer {issued}",
        "unknown": f"Bearer {unknown}",
        "malformed": f"Bearer {unknown} trailing",
        "other scheme": f"Basic {unknown}",
    }
    for case, authorization in refused.items():
        status, text = _call(s.url + MODELS, authorization)
        assert status == 401, case
        assert issued not in text and unknown not in text, f"{case}: the error body quotes the token"
    reader_spec = {"user": "admin", "name": "reader", "scopes": ["models:read"]}
    status, text = _call(s.url + "/api/admin/v1/tokens", f"Bearer {admin}", "POST", reader_spec)
    assert status == 201
    reader = json.loads(text)["token"]
    status, text = _call(s.url + MODELS, f"Bearer {reader}", "POST", {"name": "nope"})
    assert status == 403 and reader not in text
    # a bad request made with a good token: the error talks about the request, not the credentials
    status, text = _call(s.url + MODELS + "?pageSize=x", f"Bearer {admin}")
    assert status == 400 and admin not in text

    time.sleep(0.2)  # let the server flush its last log lines
    log = s.server.output()
    assert f"POST {MODELS}" in log and "401" in log, "the access log was not captured"
    for name, value in {"admin": admin, "issued": issued, "unknown": unknown, "reader": reader}.items():
        assert value not in log, f"the {name} token is in the server log"
        for database_file in s.data_dir.glob("modelshelf.db*"):
            assert value.encode() not in database_file.read_bytes(), f"the {name} token is in {database_file}"
