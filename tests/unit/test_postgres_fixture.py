"""The throwaway PostgreSQL server of tests/fixtures/postgres.py starts, makes databases, and cleans up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fixtures import postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def server() -> Iterator[postgres.PostgresServer]:
    if not postgres.available():
        pytest.fail("PostgreSQL binaries are missing: run scripts/ensure-postgres.sh")
    with postgres.PostgresServer() as server:
        yield server


def scalar(url: str, query: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


def test_creates_and_drops_a_database(server: postgres.PostgresServer) -> None:
    url = server.create_database("fixture_plain")
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/fixture_plain"
    assert scalar(url, "SELECT current_database()") == "fixture_plain"
    assert scalar(url, "SHOW fsync") == "off"
    assert scalar(
        url, "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'fixture_plain'"
    ) == ("UTF8")

    # Dropping works even while a connection is still open, as a test that forgot one would leave it.
    engine = sa.create_engine(url)
    conn = engine.connect()
    server.drop_database("fixture_plain")
    conn.invalidate()
    conn.close()
    engine.dispose()
    assert scalar(server.url(), "SELECT count(*) FROM pg_database WHERE datname = 'fixture_plain'") == 0


def test_copies_a_template_database(server: postgres.PostgresServer) -> None:
    template_url = server.create_database("fixture_template")
    engine = sa.create_engine(template_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE models (id serial PRIMARY KEY, name text NOT NULL)"))
        conn.execute(sa.text("INSERT INTO models (name) VALUES ('resnet'), ('bert')"))
    engine.dispose()  # CREATE DATABASE ... TEMPLATE fails while anyone is connected to the template

    copies = [server.create_database(f"fixture_copy_{i}", template="fixture_template") for i in range(2)]
    engine = sa.create_engine(copies[0])
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO models (name) VALUES ('gpt')"))
        names = conn.execute(sa.text("SELECT name FROM models ORDER BY id")).scalars().all()
    engine.dispose()
    assert names == ["resnet", "bert", "gpt"]
    assert scalar(copies[1], "SELECT count(*) FROM models") == 2  # copies are independent

    for name in ("fixture_copy_0", "fixture_copy_1", "fixture_template"):
        server.drop_database(name)


def test_stops_and_removes_its_directory() -> None:
    with postgres.PostgresServer() as server:
        directory = server.directory
        assert directory is not None and (directory / "data" / "PG_VERSION").exists()
        url = server.url()
        assert scalar(url, "SELECT 1") == 1
    assert not Path(directory).exists()
    with pytest.raises(sa.exc.OperationalError):
        scalar(url, "SELECT 1")
