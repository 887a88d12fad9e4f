"""End-to-end fixtures: the real `modelshelf serve` process on a free loopback port, one per test session.

Tests share that server, so each one takes a unique name prefix (`name_prefix`) for everything it creates.
The server bootstraps its admin from `MODELSHELF_ADMIN_TOKEN` (`live_admin_token`), as a container would.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator

import pytest

from tests.fixtures.serve import call, serving
from tests.fixtures.storage import azurite, moto_s3  # noqa: F401  (storage emulators, session-scoped)


@pytest.fixture(scope="session")
def live_admin_token() -> str:
    return "msh_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, live_admin_token: str) -> Iterator[str]:
    """Start `modelshelf serve` on a free 127.0.0.1 port with a fresh data dir; yield its base URL."""
    data_dir = tmp_path_factory.mktemp("live-server-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env["MODELSHELF_DATA_DIR"] = str(data_dir)
    env["MODELSHELF_ADMIN_TOKEN"] = live_admin_token
    env["MODELSHELF_LOG_LEVEL"] = "warning"
    with serving(env, data_dir.parent / f"{data_dir.name}-server") as server:
        yield server.base_url


@pytest.fixture(scope="session")
def live_tokens(live_server: str, live_admin_token: str) -> dict[str, str]:
    """A writer's and a reader's token on the live server, as a user would get them from an admin."""
    admin = f"{live_server}/api/admin/v1"
    status, body = call(f"{admin}/users", live_admin_token, "POST", {"name": "e2e-user"})
    assert status == 201, body
    made = {}
    for name, scopes in (("writer", ["models:write"]), ("reader", ["models:read"])):
        spec = {"user": "e2e-user", "name": name, "scopes": scopes}
        status, body = call(f"{admin}/tokens", live_admin_token, "POST", spec)
        assert status == 201, body
        made[name] = str(body["token"])
    return made


@pytest.fixture
def name_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix unique to this test, for the names of everything it creates on the shared server."""
    test = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")
    return f"e2e-{test}-{uuid.uuid4().hex[:8]}"
