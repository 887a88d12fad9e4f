"""Model versions: global and nested under a registered model."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.integration.kf import V1, error, model, ok, props, version


def test_create_get_find(client: TestClient) -> None:
    rm = model(client, "m")
    v = version(client, rm["id"], "v1", author="ann", description="first", customProperties=props(acc=0.5))
    assert v["registeredModelId"] == rm["id"] and v["state"] == "LIVE" and v["author"] == "ann"
    assert ok(client.get(f"{V1}/model_versions/{v['id']}")) == v
    found = ok(client.get(f"{V1}/model_version", params={"name": "v1", "parentResourceId": rm["id"]}))
    assert found == v


def test_version_names_are_unique_per_model_only(client: TestClient) -> None:
    a, b = model(client, "a"), model(client, "b")
    version(client, a["id"], "v1")
    version(client, b["id"], "v1")
    error(client.post(f"{V1}/model_versions", json={"name": "v1", "registeredModelId": a["id"]}), 409, "v1")
    error(client.get(f"{V1}/model_version", params={"name": "v1"}), 400, "parentResourceId")
    found = ok(client.get(f"{V1}/model_version", params={"name": "v1", "parentResourceId": b["id"]}))
    assert found["registeredModelId"] == b["id"]


def test_version_of_a_missing_model_is_404_and_nothing_is_stored(client: TestClient) -> None:
    error(client.post(f"{V1}/model_versions", json={"name": "v", "registeredModelId": "777"}), 404, "777")
    assert ok(client.get(f"{V1}/model_versions"))["items"] == []


def test_required_fields_are_422(client: TestClient) -> None:
    rm = model(client)
    body = error(client.post(f"{V1}/model_versions", json={"registeredModelId": rm["id"]}), 422)
    assert body == {"code": "Bad Request", "message": "required field 'name' is zero value."}
    error(client.post(f"{V1}/model_versions", json={"name": "v"}), 422, "registeredModelId")


def test_long_version_names(client: TestClient) -> None:
    rm = model(client)
    version(client, rm["id"], "x" * 250)
    error(client.post(f"{V1}/model_versions", json={"name": "y" * 255, "registeredModelId": rm["id"]}), 400)


def test_nested_create_and_upsert(client: TestClient) -> None:
    rm = model(client)
    url = f"{V1}/registered_models/{rm['id']}/versions"
    created = ok(client.post(url, json={"name": "v1", "registeredModelId": rm["id"], "author": "x"}), 201)
    assert created["registeredModelId"] == rm["id"]
    # path decides the model; a body that names another one is refused
    other = model(client, "other")
    error(client.post(url, json={"name": "v2", "registeredModelId": other["id"]}), 400)
    # a body with an id updates that version (full-schema body: output fields are accepted and ignored)
    updated = ok(client.post(url, json={**created, "description": "now described"}), 200)
    assert updated["description"] == "now described" and updated["id"] == created["id"]
    assert updated["author"] == "x"
    error(client.post(f"{V1}/registered_models/999/versions", json={"name": "v"}), 404)


def test_nested_list_with_name_and_missing_parent(client: TestClient) -> None:
    rm = model(client)
    for name in ("v1", "v2", "v3"):
        version(client, rm["id"], name)
    url = f"{V1}/registered_models/{rm['id']}/versions"
    assert [v["name"] for v in ok(client.get(url))["items"]] == ["v1", "v2", "v3"]
    assert [v["name"] for v in ok(client.get(url, params={"name": "v2"}))["items"]] == ["v2"]
    error(client.get(f"{V1}/registered_models/999/versions"), 404)


def test_archiving_a_model_does_not_cascade(client: TestClient) -> None:
    rm = model(client)
    v = version(client, rm["id"])
    ok(client.patch(f"{V1}/registered_models/{rm['id']}", json={"state": "ARCHIVED"}))
    assert ok(client.get(f"{V1}/model_versions/{v['id']}"))["state"] == "LIVE"
    archived = ok(client.patch(f"{V1}/model_versions/{v['id']}", json={"state": "ARCHIVED", "author": "z"}))
    assert archived["state"] == "ARCHIVED" and archived["author"] == "z"
    restored = ok(client.patch(f"{V1}/model_versions/{v['id']}", json={"state": "LIVE"}))
    assert restored["state"] == "LIVE"
    error(client.patch(f"{V1}/model_versions/{v['id']}", json={"state": "DELETED"}), 400, "state")
    error(client.patch(f"{V1}/model_versions/{v['id']}", json={"registeredModelId": rm["id"]}), 400)
