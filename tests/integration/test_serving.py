"""Serving environments, inference services, serve models."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.integration.kf import V1, error, model, ok, version


def _environment(client: TestClient, name: str = "prod") -> dict:
    return ok(client.post(f"{V1}/serving_environments", json={"name": name}), 201)  # type: ignore[no-any-return]


def test_environment_lifecycle(client: TestClient) -> None:
    env = _environment(client)
    assert ok(client.get(f"{V1}/serving_environments/{env['id']}")) == env
    assert ok(client.get(f"{V1}/serving_environment", params={"name": "prod"})) == env
    error(client.post(f"{V1}/serving_environments", json={"name": "prod"}), 409)
    patched = ok(client.patch(f"{V1}/serving_environments/{env['id']}", json={"description": "d"}))
    assert patched["description"] == "d"
    assert ok(client.get(f"{V1}/serving_environments"))["items"] == [patched]


def test_inference_service_model_and_version(client: TestClient) -> None:
    env = _environment(client)
    rm = model(client)
    v1 = version(client, rm["id"], "v1")
    v2 = version(client, rm["id"], "v2")
    body = {"registeredModelId": rm["id"], "servingEnvironmentId": env["id"], "runtime": "kserve"}
    svc = ok(client.post(f"{V1}/inference_services", json=body), 201)
    assert svc["desiredState"] == "DEPLOYED" and len(svc["name"]) == 36
    assert ok(client.get(f"{V1}/inference_services/{svc['id']}/model")) == rm
    assert ok(client.get(f"{V1}/inference_services/{svc['id']}/version"))["id"] == v2["id"]  # the newest
    pinned = ok(client.patch(f"{V1}/inference_services/{svc['id']}", json={"modelVersionId": v1["id"]}))
    assert pinned["modelVersionId"] == v1["id"] and pinned["desiredState"] == "DEPLOYED"
    assert ok(client.get(f"{V1}/inference_services/{svc['id']}/version"))["id"] == v1["id"]
    found = ok(
        client.get(f"{V1}/inference_service", params={"name": svc["name"], "parentResourceId": env["id"]})
    )
    assert found == pinned


def test_inference_service_checks_its_references(client: TestClient) -> None:
    env = _environment(client)
    rm = model(client)
    other_version = version(client, model(client, "other")["id"])
    url = f"{V1}/inference_services"
    error(client.post(url, json={"registeredModelId": rm["id"], "servingEnvironmentId": "99"}), 404)
    error(client.post(url, json={"registeredModelId": "99", "servingEnvironmentId": env["id"]}), 404)
    error(client.post(url, json={"servingEnvironmentId": env["id"]}), 422, "registeredModelId")
    error(
        client.post(
            url,
            json={
                "registeredModelId": rm["id"],
                "servingEnvironmentId": env["id"],
                "modelVersionId": other_version["id"],
            },
        ),
        400,
    )
    assert ok(client.get(url))["items"] == []


def test_nested_services_and_serves(client: TestClient) -> None:
    env = _environment(client)
    rm = model(client)
    v = version(client, rm["id"])
    url = f"{V1}/serving_environments/{env['id']}/inference_services"
    svc = ok(client.post(url, json={"name": "svc", "registeredModelId": rm["id"]}), 201)
    assert svc["servingEnvironmentId"] == env["id"]
    error(client.post(url, json={"name": "svc", "registeredModelId": rm["id"]}), 409)
    assert [s["id"] for s in ok(client.get(url))["items"]] == [svc["id"]]
    serves = f"{V1}/inference_services/{svc['id']}/serves"
    serve = ok(client.post(serves, json={"modelVersionId": v["id"], "lastKnownState": "RUNNING"}), 201)
    assert serve["modelVersionId"] == v["id"] and serve["lastKnownState"] == "RUNNING"
    assert ok(client.get(serves))["items"] == [serve]
    error(client.post(serves, json={"modelVersionId": "999"}), 404)
    error(client.post(serves, json={}), 422)
    error(client.post(f"{V1}/inference_services/999/serves", json={"modelVersionId": v["id"]}), 404)
    error(client.get(f"{V1}/inference_services/999/serves"), 404)
