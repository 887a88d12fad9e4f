"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL, and a client for the app.

Migrations run once per backend into a template (a file for SQLite, a template database for PostgreSQL);
each test gets a fresh copy, so tests are isolated and still fast.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from modelshelf.app import create_app
from modelshelf.settings import Settings
from modelshelf.store import migrate
from modelshelf.store.engine import connect

if TYPE_CHECKING:
    from tests.fixtures.postgres import PostgresServer

BACKENDS = ["sqlite"]  # PostgreSQL joins once its fixture lands
_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = connect(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    from tests.fixtures import postgres

    if not postgres.available():
        pytest.fail("PostgreSQL binaries are missing: run scripts/ensure-postgres.sh (make test does)")
    with postgres.PostgresServer() as server:
        server.create_database("modelshelf_template")
        engine = connect(server.url("modelshelf_template"))
        migrate.upgrade(engine)
        engine.dispose()
        yield server


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
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"test_{next(_counter)}"
    url = server.create_database(name, template="modelshelf_template")
    yield url
    server.drop_database(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = connect(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, max_body_bytes=1024 * 1024)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as test_client:
        yield test_client
