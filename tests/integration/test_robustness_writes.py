"""Robustness of the Kubeflow face: a write that fails stores nothing at all.

Half-valid bodies, conflicts on names and external ids, missing or mismatched parents, missing required
fields and an unexpected server error must each leave every table and every list as they were.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelshelf.services import records
from tests.integration.kf import V1, artifact, model, ok, props, version
from tests.integration.robustness import BOOL, CREATES, INT, UPDATES, Registry, assert_error_body


def test_failed_update_applies_none_of_its_fields(registry: Registry) -> None:
    world = registry.world
    for bad in (
        {"customProperties": {"p": {"metadataType": INT, "int_value": "x"}}},
        {"externalId": 5},
        {"unknown": "x"},
    ):
        for target in UPDATES:
            body = target.payload(world, description="changed", customProperties=props(new="value")) | bad
            registry.rejects(target.method, target.url(world), json=body)


def test_failed_create_stores_nothing_even_when_the_error_comes_last(registry: Registry) -> None:
    world = registry.world
    for target in CREATES:
        body = target.payload(world, description="valid", customProperties=props(a="x", b=1, c=0.5, d=True))
        body["externalId"] = "also-valid"
        body["customProperties"]["z-last"] = {"metadataType": BOOL, "bool_value": "yes"}
        registry.rejects(target.method, target.url(world), json=body)


def test_conflicting_creates_store_nothing(registry: Registry) -> None:
    world = registry.world
    m, v, se = world["m"], world["v"], world["se"]
    registry.rejects("POST", f"{V1}/registered_models", 409, json={"name": "world-model"})
    body = {"name": "world-version", "registeredModelId": m}
    registry.rejects("POST", f"{V1}/model_versions", 409, json=body)
    registry.rejects("POST", f"{V1}/registered_models/{m}/versions", 409, json={"name": "world-version"})
    body = {"artifactType": "model-artifact", "name": "world-artifact"}
    registry.rejects("POST", f"{V1}/model_versions/{v}/artifacts", 409, json=body)
    registry.rejects("POST", f"{V1}/serving_environments", 409, json={"name": "world-env"})
    body = {"name": "world-service", "registeredModelId": m, "servingEnvironmentId": se}
    registry.rejects("POST", f"{V1}/inference_services", 409, json=body)
    registry.rejects("POST", f"{V1}/serving_environments/{se}/inference_services", 409, json=body)
    # an external id taken by another entity of the same kind
    ok(registry.client.patch(f"{V1}/registered_models/{m}", json={"externalId": "taken"}))
    second = model(registry.client, "second")
    registry.rebase()
    registry.rejects("POST", f"{V1}/registered_models", 409, json={"name": "other", "externalId": "taken"})
    url = f"{V1}/registered_models/{second['id']}"
    registry.rejects("PATCH", url, 409, json={"externalId": "taken", "description": "changed"})


def test_upsert_that_conflicts_while_linking_leaves_the_artifact_unchanged(registry: Registry) -> None:
    client, world = registry.client, registry.world
    other = version(client, world["m"], "other-version")
    # the other version already holds an artifact named like the world's artifact
    artifact(client, other["id"], name="world-artifact", uri="s3://other")
    registry.rebase()
    body = {
        "artifactType": "model-artifact",
        "id": world["a"],
        "description": "changed",
        "uri": "s3://changed",
    }
    registry.rejects("POST", f"{V1}/model_versions/{other['id']}/artifacts", 409, json=body)


def test_children_of_missing_parents_are_not_stored(registry: Registry) -> None:
    world = registry.world
    m, v, se, svc, a = world["m"], world["v"], world["se"], world["svc"], world["a"]
    orphans: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/model_versions", {"name": "orphan", "registeredModelId": "999"}),
        ("POST", "/registered_models/999/versions", {"name": "orphan"}),
        ("POST", "/model_versions/999/artifacts", {"artifactType": "model-artifact", "name": "orphan"}),
        ("POST", "/model_versions/999/artifacts", {"artifactType": "model-artifact", "id": a}),
        ("POST", f"/model_versions/{v}/artifacts", {"artifactType": "model-artifact", "id": "999"}),
        ("POST", "/inference_services", {"registeredModelId": "999", "servingEnvironmentId": se}),
        ("POST", "/inference_services", {"registeredModelId": m, "servingEnvironmentId": "999"}),
        (
            "POST",
            "/inference_services",
            {"registeredModelId": m, "servingEnvironmentId": se, "modelVersionId": "999"},
        ),
        ("POST", "/serving_environments/999/inference_services", {"registeredModelId": m}),
        ("POST", f"/inference_services/{svc}/serves", {"modelVersionId": "999"}),
        ("POST", "/inference_services/999/serves", {"modelVersionId": v}),
        ("PATCH", f"/inference_services/{svc}", {"modelVersionId": "999", "description": "changed"}),
    ]
    for method, path, body in orphans:
        registry.rejects(method, V1 + path, 404, json=body)


def test_inference_service_with_a_version_of_another_model_is_not_stored(registry: Registry) -> None:
    client, world = registry.client, registry.world
    other_model = model(client, "other-model")
    foreign = version(client, other_model["id"], "foreign-version")
    registry.rebase()
    body = {
        "name": "mixed",
        "registeredModelId": world["m"],
        "servingEnvironmentId": world["se"],
        "modelVersionId": foreign["id"],
    }
    registry.rejects("POST", f"{V1}/inference_services", 400, json=body)
    registry.rejects("POST", f"{V1}/serving_environments/{world['se']}/inference_services", 400, json=body)
    url = f"{V1}/inference_services/{world['svc']}"
    registry.rejects("PATCH", url, 400, json={"modelVersionId": foreign["id"], "description": "changed"})


def test_required_fields_missing_or_empty_are_422(registry: Registry) -> None:
    world = registry.world
    m, se, svc = world["m"], world["se"], world["svc"]
    for url, body in [
        ("/registered_models", {}),
        ("/registered_models", {"name": ""}),
        ("/model_versions", {"registeredModelId": m}),
        ("/model_versions", {"name": "x"}),
        ("/model_versions", {"name": "", "registeredModelId": m}),
        (f"/registered_models/{m}/versions", {}),
        ("/serving_environments", {"name": ""}),
        ("/inference_services", {"registeredModelId": m}),
        ("/inference_services", {"servingEnvironmentId": se}),
        (f"/inference_services/{svc}/serves", {}),
    ]:
        registry.rejects("POST", V1 + url, 422, json=body)


def test_unexpected_error_is_a_json_500_and_stores_nothing(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(records, "create", explode)
    response = registry.client.post(f"{V1}/registered_models", json={"name": "doomed"})
    body = assert_error_body(response, 500)
    assert "simulated" not in body["message"]  # internals stay in the log
    assert registry.database_unchanged()
