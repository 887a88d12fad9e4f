"""Two real `modelshelf serve` processes on one real PostgreSQL database, written to at once.

Racing creates of one name through both replicas: exactly one 201, every other answer a 409 in Kubeflow's
{code, message} body, and one row in the database. Interleaved PATCHes of one entity through both: each
acknowledged `lastUpdateTimeSinceEpoch` is distinct, and one acknowledged before another was sent is
smaller. A write acknowledged by one replica is read at once through the other, by id and by name.
(Git refreshes across replicas: test_replicas_git.py.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.pool import NullPool

from modelshelf.store import migrate, tables
from modelshelf.store.engine import connect
from tests.conftest import _empty_postgres
from tests.fixtures.serve import Server, call, ready, serving

pytestmark = pytest.mark.postgres

TOKEN = "msh_" + "r" * 43
V1 = "/api/model_registry/v1"
RACERS = 16  # concurrent requests per race, half through each replica
ROUNDS = 3  # races per kind of entity


@dataclass
class Replicas:
    a: Server
    b: Server
    database_url: str

    def at(self, index: int) -> Server:
        return self.a if index % 2 == 0 else self.b

    def count(self, table: Any, *where: Any) -> int:
        engine = connect(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
        finally:
            engine.dispose()


def replica_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "MODELSHELF_DATABASE_URL": database_url,
        "MODELSHELF_DATA_DIR": str(data_dir),
        "MODELSHELF_ADMIN_TOKEN": TOKEN,
        "MODELSHELF_ACCESS_LOG": "false",
        **extra,
    }


@pytest.fixture(scope="module")
def replicas(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Two replicas, each with a data directory of its own as on two hosts, on one emptied database."""
    _empty_postgres(postgres_url)
    logs = tmp_path_factory.mktemp("replicas")
    with (
        serving(replica_env(postgres_url, logs / "a-data"), logs / "a") as a,
        serving(replica_env(postgres_url, logs / "b-data"), logs / "b") as b,
    ):
        yield Replicas(a, b, postgres_url)


def race(replicas: Replicas, path: str, body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """RACERS identical POSTs, released together, alternately through each replica."""
    start = threading.Barrier(RACERS)

    def send(index: int) -> tuple[int, dict[str, Any]]:
        start.wait()
        return call(f"{replicas.at(index).base_url}{V1}{path}", TOKEN, "POST", body)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(send, range(RACERS)))


def assert_one_winner(answers: list[tuple[int, dict[str, Any]]], name: str) -> dict[str, Any]:
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * (RACERS - 1), answers
    for status, body in answers:
        if status == 409:
            assert set(body) == {"code", "message"} and body["code"] == "Conflict", body
            assert repr(name) in body["message"], body
    return next(body for status, body in answers if status == 201)


def create(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = call(f"{server.base_url}{V1}{path}", TOKEN, "POST", body)
    assert status == 201, answer
    return answer


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_creates_of_one_registered_model_name(replicas: Replicas, round_: int) -> None:
    name = f"racer-{round_}"
    won = assert_one_winner(race(replicas, "/registered_models", {"name": name}), name)
    assert won["name"] == name
    assert replicas.count(tables.registered_model, tables.registered_model.c.name == name) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_creates_of_one_external_id(replicas: Replicas, round_: int) -> None:
    external = f"ext-{round_}"
    start = threading.Barrier(RACERS)

    def send(index: int) -> tuple[int, dict[str, Any]]:
        start.wait()
        body = {"name": f"ext-racer-{round_}-{index}", "externalId": external}
        return call(f"{replicas.at(index).base_url}{V1}/registered_models", TOKEN, "POST", body)

    with ThreadPoolExecutor(RACERS) as pool:
        answers = list(pool.map(send, range(RACERS)))
    assert_one_winner(answers, external)
    table = tables.registered_model
    assert replicas.count(table, table.c.external_id == external) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_creates_of_one_model_version_name(replicas: Replicas, round_: int) -> None:
    model = create(replicas.a, "/registered_models", {"name": f"versions-{round_}"})
    body = {"name": "v1", "registeredModelId": model["id"]}
    won = assert_one_winner(race(replicas, "/model_versions", body), "v1")
    assert won["registeredModelId"] == model["id"]
    table = tables.model_version
    assert replicas.count(table, table.c.registered_model_id == int(model["id"])) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_creates_of_one_artifact_name_in_a_version(replicas: Replicas, round_: int) -> None:
    model = create(replicas.a, "/registered_models", {"name": f"artifacts-{round_}"})
    version = create(replicas.b, "/model_versions", {"name": "v1", "registeredModelId": model["id"]})
    name = f"weights-{round_}"
    body = {"artifactType": "model-artifact", "name": name, "uri": "s3://bucket/weights"}
    assert_one_winner(race(replicas, f"/model_versions/{version['id']}/artifacts", body), name)
    links = tables.model_version_artifact
    assert replicas.count(links, links.c.model_version_id == int(version["id"])) == 1
    assert replicas.count(tables.artifact, tables.artifact.c.name == name) == 1, "a loser left its row"


@pytest.mark.parametrize("artifact_type", ["metric", "parameter"])
def test_racing_upserts_of_one_metric_name_update_the_one_that_won(
    replicas: Replicas, artifact_type: str
) -> None:
    # A metric or parameter named like one already in the version updates it (it records the latest
    # value of a name): racing ones do what they would have done one after the other.
    model = create(replicas.a, "/registered_models", {"name": f"upserts-{artifact_type}"})
    version = create(replicas.b, "/model_versions", {"name": "v1", "registeredModelId": model["id"]})
    body: dict[str, Any] = {"artifactType": artifact_type, "name": "accuracy"}
    body.update({"value": 0.5} if artifact_type == "metric" else {"parameterType": "string", "value": "x"})
    answers = race(replicas, f"/model_versions/{version['id']}/artifacts", body)
    assert sorted(status for status, _ in answers) == [200] * (RACERS - 1) + [201], answers
    assert len({answer["id"] for _, answer in answers}) == 1
    links = tables.model_version_artifact
    assert replicas.count(links, links.c.model_version_id == int(version["id"])) == 1
    artifact = tables.artifact
    same = (artifact.c.name == "accuracy", artifact.c.artifact_type == artifact_type)
    assert replicas.count(artifact, *same) == 1


def test_racing_links_of_one_artifact_into_a_version_all_succeed(replicas: Replicas) -> None:
    # Linking an artifact that is already linked changes nothing: racing links are no conflict either.
    model = create(replicas.a, "/registered_models", {"name": "links"})
    version = create(replicas.b, "/model_versions", {"name": "v1", "registeredModelId": model["id"]})
    artifact = create(replicas.a, "/artifacts", {"artifactType": "model-artifact", "name": "shared"})
    body = {"id": artifact["id"], "artifactType": "model-artifact"}
    answers = race(replicas, f"/model_versions/{version['id']}/artifacts", body)
    assert [status for status, _ in answers] == [200] * RACERS, answers
    links = tables.model_version_artifact
    assert replicas.count(links, links.c.model_version_id == int(version["id"])) == 1


@dataclass(frozen=True)
class Ack:
    sent: float  # monotonic time the request left
    received: float  # ...and its answer came back
    stamp: int  # lastUpdateTimeSinceEpoch in the answer


def patch_concurrently(
    replicas: Replicas, path: str, writers: int, each: int, extra: dict[str, Any]
) -> list[Ack]:
    """`writers` threads, each PATCHing `path` `each` times, alternately through the two replicas."""
    start = threading.Barrier(writers)

    def writer(index: int) -> list[Ack]:
        start.wait()
        acks = []
        for step in range(each):
            server = replicas.at(index + step)
            sent = time.monotonic()
            body = {"description": f"writer {index} step {step}", **extra}
            status, answer = call(f"{server.base_url}{V1}{path}", TOKEN, "PATCH", body)
            received = time.monotonic()
            assert status == 200, answer
            acks.append(Ack(sent, received, int(answer["lastUpdateTimeSinceEpoch"])))
        return acks

    with ThreadPoolExecutor(writers) as pool:
        return [ack for acks in pool.map(writer, range(writers)) for ack in acks]


def assert_strictly_increasing(acks: list[Ack], stored: int) -> None:
    stamps = [ack.stamp for ack in acks]
    assert len(set(stamps)) == len(stamps), "two acknowledged updates share a lastUpdateTimeSinceEpoch"
    for earlier in acks:
        for later in acks:
            if later.sent > earlier.received:  # acknowledged before the later one was sent
                assert later.stamp > earlier.stamp, (earlier, later)
    assert stored == max(stamps)


@pytest.mark.parametrize(
    "kind", ["registered_models", "model_versions", "artifacts"], ids=["model", "version", "artifact"]
)
def test_last_update_time_strictly_increases_under_interleaved_patches(replicas: Replicas, kind: str) -> None:
    model = create(replicas.a, "/registered_models", {"name": f"patched-{kind}"})
    target = model
    if kind != "registered_models":
        target = create(replicas.b, "/model_versions", {"name": "v1", "registeredModelId": model["id"]})
    if kind == "artifacts":
        body = {"artifactType": "model-artifact", "name": "w", "uri": "s3://b/w"}
        target = create(replicas.a, f"/model_versions/{target['id']}/artifacts", body)
    path = f"/{kind}/{target['id']}"
    extra = {"artifactType": "model-artifact"} if kind == "artifacts" else {}
    acks = patch_concurrently(replicas, path, writers=8, each=10, extra=extra)
    # Strictly after the create too, whichever replica stamped it.
    assert min(ack.stamp for ack in acks) > int(target["lastUpdateTimeSinceEpoch"])
    _, stored = call(f"{replicas.b.base_url}{V1}{path}", TOKEN)
    assert_strictly_increasing(acks, int(stored["lastUpdateTimeSinceEpoch"]))


def read_on(server: Server, path: str) -> dict[str, Any]:
    status, answer = call(f"{server.base_url}{V1}{path}", TOKEN)
    assert status == 200, (path, answer)
    return answer


@pytest.mark.parametrize("writer", ["a", "b"])
def test_a_write_on_one_replica_is_read_at_once_on_the_other(replicas: Replicas, writer: str) -> None:
    write, read = (replicas.a, replicas.b) if writer == "a" else (replicas.b, replicas.a)
    for index in range(20):
        model = create(write, "/registered_models", {"name": f"ryw-{writer}-{index}"})
        assert read_on(read, f"/registered_models/{model['id']}") == model
        assert read_on(read, f"/registered_model?name={quote(model['name'])}") == model

        version = create(write, "/model_versions", {"name": "v", "registeredModelId": model["id"]})
        assert read_on(read, f"/model_versions/{version['id']}") == version
        found = f"/model_version?name=v&parentResourceId={model['id']}"
        assert read_on(read, found) == version

        body = {"artifactType": "model-artifact", "name": "w", "uri": "s3://b/w"}
        artifact = create(write, f"/model_versions/{version['id']}/artifacts", body)
        assert read_on(read, f"/artifacts/{artifact['id']}") == artifact
        found = f"/artifact?name=w&parentResourceId={version['id']}"
        assert read_on(read, found) == artifact

        path = f"{V1}/registered_models/{model['id']}"
        patched = call(f"{write.base_url}{path}", TOKEN, "PATCH", {"state": "ARCHIVED"})
        assert patched[0] == 200
        assert read_on(read, f"/registered_models/{model['id']}") == patched[1]


def test_the_replicas_logged_no_server_error(replicas: Replicas) -> None:
    # Last in the module: whatever the races above did, no replica hit an unexpected exception.
    for server in (replicas.a, replicas.b):
        assert "Traceback" not in server.output(), server.output()[-4000:]


def test_a_rolling_upgrade_keeps_the_old_replicas_serving(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """docs/deployment.md's upgrade, with real processes: a replica of this release serves while a newer
    release's migration (a table and a nullable column more, at the next revision) runs; it stays ready
    and keeps writing, and a replica started afterwards with --no-migrate serves the newer schema too."""
    _empty_postgres(postgres_url)
    head = migrate.head_revision()
    assert head is not None
    logs = tmp_path_factory.mktemp("rolling")
    engine = connect(postgres_url, poolclass=NullPool)
    try:
        with serving(replica_env(postgres_url, logs / "old-data"), logs / "old", "--no-migrate") as old:
            create(old, "/registered_models", {"name": "before-the-upgrade"})
            with engine.begin() as conn:  # the newer release's `modelshelf db upgrade`
                conn.execute(text("CREATE TABLE later_release_table (id INTEGER PRIMARY KEY)"))
                conn.execute(text("ALTER TABLE registered_model ADD COLUMN later_release_note TEXT"))
                conn.execute(
                    text("UPDATE alembic_version SET version_num = :v"), {"v": f"{int(head) + 1:04d}"}
                )
            assert ready(old.base_url)
            create(old, "/registered_models", {"name": "during-the-upgrade"})
            with serving(replica_env(postgres_url, logs / "new-data"), logs / "new", "--no-migrate") as new:
                assert ready(new.base_url)
                status, found = call(f"{new.base_url}{V1}/registered_model?name=during-the-upgrade", TOKEN)
                assert status == 200 and found["name"] == "during-the-upgrade", found
            assert "from a newer release than this one" in (logs / "new.err").read_text()
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS later_release_table"))
            conn.execute(text("ALTER TABLE registered_model DROP COLUMN IF EXISTS later_release_note"))
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        engine.dispose()
        _empty_postgres(postgres_url)
