"""`benchmarks.load` writes what the API would have written: the API lists, gets, finds and filters it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from benchmarks import load
from modelshelf.store import tables
from tests.integration.kf import V1, artifact, model, ok, props, version

VERSIONS = 2000
MODELS = VERSIONS // load.VERSIONS_PER_MODEL


@pytest.fixture
def loaded(engine: Engine, client: TestClient) -> TestClient:
    assert load.load(engine, VERSIONS) == MODELS
    return client


def _all(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page after page, as a client's pager reads them."""
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        page = ok(client.get(f"{V1}/{path}", params={"pageSize": 500, "nextPageToken": token, **params}))
        items += page.get("items", [])
        token = page.get("nextPageToken", "")
        if not token:
            return items


def test_the_api_lists_gets_and_finds_what_was_loaded(loaded: TestClient) -> None:
    models = _all(loaded, "registered_models")
    assert len(models) == MODELS
    assert len(_all(loaded, "model_versions")) == VERSIONS
    assert len(_all(loaded, "model_artifacts")) == VERSIONS
    first = models[0]
    assert first["customProperties"] == load.model_properties(int(first["id"]))
    found = ok(loaded.get(f"{V1}/registered_model", params={"name": first["name"]}))
    assert found == first
    versions = _all(loaded, f"registered_models/{first['id']}/versions")
    assert [v["name"] for v in versions] == [f"v{n}" for n in range(1, load.VERSIONS_PER_MODEL + 1)]
    v = versions[2]
    assert ok(loaded.get(f"{V1}/model_versions/{v['id']}")) == v
    assert v["customProperties"] == load.version_properties(int(v["id"]))
    assert v["registeredModelId"] == first["id"]
    by_name = ok(
        loaded.get(f"{V1}/model_version", params={"name": v["name"], "parentResourceId": first["id"]})
    )
    assert by_name["id"] == v["id"]
    arts = ok(loaded.get(f"{V1}/model_versions/{v['id']}/artifacts"))["items"]
    assert [(a["artifactType"], a["name"]) for a in arts] == [("model-artifact", f"{first['name']}-v3")]
    assert ok(loaded.get(f"{V1}/model_artifacts/{arts[0]['id']}")) == arts[0]


def test_filters_on_loaded_properties_find_exactly_the_right_rows(loaded: TestClient) -> None:
    ids = range(1, VERSIONS + 1)
    onnx = _all(loaded, "model_versions", filterQuery="framework = 'onnx'")
    assert sorted(int(v["id"]) for v in onnx) == [i for i in ids if load.framework(i) == "onnx"]
    accurate = _all(loaded, "model_versions", filterQuery="accuracy > 0.9 AND epochs <= 50")
    expected = [i for i in ids if load.accuracy(i) > 0.9 and load.epochs(i) <= 50]
    assert sorted(int(v["id"]) for v in accurate) == expected and expected
    team = _all(loaded, "registered_models", filterQuery="team = 'team-7' AND production = true")
    assert sorted(int(m["id"]) for m in team) == [
        i for i in range(1, MODELS + 1) if load.team(i) == "team-7" and i % 4 == 0
    ]


def test_loaded_rows_are_stored_as_the_api_stores_them(engine: Engine, loaded: TestClient) -> None:
    """The same properties written through the API give the same JSON and the same index rows; and new
    rows written through the API after a load get fresh ids (PostgreSQL's sequences moved past the load)."""
    m = model(loaded, "through-the-api", customProperties=load.model_properties(1))
    assert int(m["id"]) == MODELS + 1
    v = version(loaded, m["id"], "v1", customProperties=load.version_properties(1))
    assert int(v["id"]) == VERSIONS + 1
    assert int(artifact(loaded, v["id"], uri="s3://x")["id"]) == VERSIONS + 1
    prop = tables.custom_property
    with engine.connect() as conn:
        for table, loaded_id, api_id in (
            (tables.registered_model, 1, int(m["id"])),
            (tables.model_version, 1, int(v["id"])),
        ):
            stored = dict(conn.execute(select(table.c.id, table.c.custom_properties)).all())
            assert stored[loaded_id] == stored[api_id]
            rows = {
                owner: sorted(
                    tuple(r)[2:]
                    for r in conn.execute(
                        select(prop).where(prop.c.entity_table == table.name, prop.c.entity_id == owner)
                    )
                )
                for owner in (loaded_id, api_id)
            }
            assert rows[loaded_id] == rows[api_id] and rows[loaded_id]
    assert props(team="team-1", production=False) == load.model_properties(1)
