"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL, and a client for the app.

Migrations run once per backend: into a template file that each SQLite test copies, and into one
PostgreSQL database that is emptied (with its id sequences reset) before each test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from modelshelf.app import create_app
from modelshelf.services import accounts
from modelshelf.settings import GitSettings, Settings
from modelshelf.store import migrate, tables
from modelshelf.store.engine import connect
from modelshelf.store.session import Database

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = connect(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; tests empty it between them (see database_url)."""
    from tests.fixtures import postgres

    if not postgres.available():
        pytest.fail("PostgreSQL binaries are missing: run scripts/ensure-postgres.sh (make test does)")
    with postgres.PostgresServer() as server:
        url = server.create_database("modelshelf_test")
        engine = connect(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def _empty_postgres(url: str) -> None:
    engine = connect(url, poolclass=NullPool)
    names = ", ".join(t.name for t in tables.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp_path / "modelshelf.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = connect(database_url)
    yield engine
    engine.dispose()


# Every repository URL a test's app might fetch (create-project, schemathesis) is rewritten to a local path
# that does not exist: no test reaches the network, and such a fetch fails at once.
NOWHERE_PREFIXES = ("https://", "http://", "ssh://", "git://", "git@", "file://")


def offline_git(tmp_path: Path) -> GitSettings:
    nowhere = (tmp_path / "no-such-repositories").as_uri() + "/"
    rewrites = [{"prefix": prefix, "to": nowhere} for prefix in NOWHERE_PREFIXES]
    return GitSettings.model_validate({"refresh_interval": 0, "fetch_timeout": 10, "rewrite": rewrites})


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path, database_url=database_url, max_body_bytes=1024 * 1024, git=offline_git(tmp_path)
    )


@pytest.fixture
def admin_token(engine: Engine) -> str:
    """The bootstrap admin's token, as the first `modelshelf serve` would make it."""
    with Database(engine).write() as conn:
        secret = accounts.bootstrap_admin(conn, None)
    assert secret is not None
    return secret


@pytest.fixture
def anonymous(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """A client that sends no credentials."""
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def client(anonymous: TestClient, admin_token: str) -> TestClient:
    """A client holding the admin's token, which grants every scope."""
    anonymous.headers["Authorization"] = f"Bearer {admin_token}"
    return anonymous
