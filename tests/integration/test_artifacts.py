"""Artifacts of all five types: standalone, nested upsert into versions, typed and generic endpoints."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, V1ALPHA3, artifact, error, model, ok, props, version

EVERY_TYPE = [
    {
        "artifactType": "model-artifact",
        "name": "weights",
        "uri": "s3://b/w",
        "modelFormatName": "onnx",
        "modelFormatVersion": "1",
        "storageKey": "k",
        "storagePath": "p",
        "serviceAccountName": "sa",
        "modelSourceKind": "kfp",
        "modelSourceClass": "pipelinerun",
        "modelSourceGroup": "g",
        "modelSourceId": "i",
        "modelSourceName": "n",
    },
    {"artifactType": "doc-artifact", "name": "readme", "uri": "https://example.invalid/readme.md"},
    {
        "artifactType": "dataset-artifact",
        "name": "train",
        "uri": "s3://b/d",
        "digest": "sha256:00",
        "sourceType": "s3",
        "source": "s3://b",
        "schema": "{}",
        "profile": "p",
    },
    {"artifactType": "metric", "name": "accuracy", "value": 0.93, "timestamp": "1700000000000", "step": "3"},
    {"artifactType": "parameter", "name": "lr", "value": "0.01", "parameterType": "number"},
]


@pytest.fixture
def version_id(client: TestClient) -> str:
    return str(version(client, model(client)["id"])["id"])


@pytest.mark.parametrize("body", EVERY_TYPE, ids=lambda b: b["artifactType"])
def test_every_type_round_trips_through_the_nested_upsert(
    client: TestClient, version_id: str, body: dict
) -> None:
    created = artifact(client, version_id, **body, customProperties=props(k="v"))
    expected = {k: v for k, v in body.items()}
    for key, value in expected.items():
        assert created[key] == value, key
    assert created["state"] == "UNKNOWN"
    assert ok(client.get(f"{V1}/artifacts/{created['id']}")) == created
    listed = ok(client.get(f"{V1}/model_versions/{version_id}/artifacts"))["items"]
    assert listed == [created]


def test_metric_step_is_a_string_on_v1_and_a_number_on_v1alpha3(client: TestClient, version_id: str) -> None:
    created = artifact(client, version_id, artifactType="metric", name="loss", value=0.1, step="7")
    assert created["step"] == "7"
    assert ok(client.get(f"{V1ALPHA3}/artifacts/{created['id']}"))["step"] == 7


def test_model_artifact_endpoints_only_see_model_artifacts(client: TestClient, version_id: str) -> None:
    ma = artifact(client, version_id, name="w", uri="s3://x")
    doc = artifact(client, version_id, artifactType="doc-artifact", name="d", uri="s3://d")
    assert ok(client.get(f"{V1}/model_artifacts/{ma['id']}")) == ma
    error(client.get(f"{V1}/model_artifacts/{doc['id']}"), 404)
    assert [a["id"] for a in ok(client.get(f"{V1}/model_artifacts"))["items"]] == [ma["id"]]
    found = ok(client.get(f"{V1}/model_artifact", params={"name": "w", "parentResourceId": version_id}))
    assert found == ma
    assert ok(client.get(f"{V1}/artifact", params={"name": "d", "parentResourceId": version_id})) == doc
    error(client.get(f"{V1}/model_artifact", params={"name": "d", "parentResourceId": version_id}), 404)
    error(client.get(f"{V1}/model_artifact", params={"name": "w"}), 400)


def test_names_are_unique_per_type_within_a_version(client: TestClient, version_id: str) -> None:
    artifact(client, version_id, name="same", uri="s3://1")
    artifact(client, version_id, artifactType="doc-artifact", name="same", uri="s3://2")
    error(
        client.post(
            f"{V1}/model_versions/{version_id}/artifacts",
            json={"artifactType": "model-artifact", "name": "same", "uri": "s3://3"},
        ),
        409,
        "same",
    )
    assert ok(client.get(f"{V1}/model_versions/{version_id}/artifacts"))["size"] == 2
    assert ok(client.get(f"{V1}/artifacts"))["size"] == 2  # the refused one was not stored either
    # the same name under another version is fine
    other = version(client, model(client, "m2")["id"])["id"]
    artifact(client, other, name="same", uri="s3://4")


def test_upsert_by_id_updates_and_links(client: TestClient, version_id: str) -> None:
    created = artifact(client, version_id, name="w", uri="s3://old")
    updated = artifact(client, version_id, status=200, id=created["id"], uri="s3://new", name="w")
    assert updated["uri"] == "s3://new" and updated["id"] == created["id"]
    other = version(client, model(client, "m2")["id"])["id"]
    artifact(client, other, status=200, id=created["id"])
    assert [a["id"] for a in ok(client.get(f"{V1}/model_versions/{other}/artifacts"))["items"]] == [
        created["id"]
    ]
    error(
        client.post(
            f"{V1}/model_versions/{version_id}/artifacts",
            json={"artifactType": "doc-artifact", "id": created["id"]},
        ),
        400,
        "immutable",
    )
    error(
        client.post(
            f"{V1}/model_versions/{version_id}/artifacts",
            json={"artifactType": "model-artifact", "id": "4242"},
        ),
        404,
    )


def test_metric_and_parameter_upsert_by_name(client: TestClient, version_id: str) -> None:
    first = artifact(client, version_id, artifactType="metric", name="acc", value=0.5)
    second = artifact(client, version_id, status=200, artifactType="metric", name="acc", value=0.7)
    assert second["id"] == first["id"] and second["value"] == 0.7
    error(
        client.post(
            f"{V1}/model_versions/{version_id}/artifacts", json={"artifactType": "metric", "name": "nov"}
        ),
        400,
        "value",
    )


def test_missing_version_and_bad_artifact_types(client: TestClient, version_id: str) -> None:
    error(client.post(f"{V1}/model_versions/999/artifacts", json={"artifactType": "model-artifact"}), 404)
    error(client.post(f"{V1}/model_versions/{version_id}/artifacts", json={"name": "x"}), 400, "artifactType")
    error(
        client.post(f"{V1}/model_versions/{version_id}/artifacts", json={"artifactType": "video"}),
        400,
        "video",
    )
    error(client.get(f"{V1}/model_versions/999/artifacts"), 404)
    error(client.get(f"{V1}/artifacts", params={"artifactType": ""}), 400)


def test_unnamed_artifacts_get_a_uuid_name(client: TestClient) -> None:
    created = ok(client.post(f"{V1}/model_artifacts", json={"uri": "s3://x"}), 201)
    assert len(created["name"]) == 36 and created["artifactType"] == "model-artifact"


def test_standalone_create_and_generic_patch(client: TestClient) -> None:
    created = ok(
        client.post(f"{V1}/artifacts", json={"artifactType": "doc-artifact", "name": "d", "uri": "u"}), 201
    )
    url = f"{V1}/artifacts/{created['id']}"
    body = error(client.patch(url, json={"artifactType": "model-artifact"}), 400)
    assert "doc" in body["message"] and "model" in body["message"]
    error(client.patch(url, json={"uri": "x"}), 400, "artifactType")
    patched = ok(client.patch(url, json={"artifactType": "doc-artifact", "description": "hi"}))
    assert patched["description"] == "hi" and patched["uri"] == "u"
    error(client.post(f"{V1}/artifacts", json={"name": "no type"}), 400)


def test_patch_model_artifact_without_artifact_type(client: TestClient, version_id: str) -> None:
    ma = artifact(client, version_id, name="w", uri="s3://x", state="LIVE")
    patched = ok(client.patch(f"{V1}/model_artifacts/{ma['id']}", json={"modelFormatName": "foo"}))
    assert patched["modelFormatName"] == "foo" and patched["state"] == "LIVE"
    via_generic = ok(
        client.patch(
            f"{V1}/artifacts/{ma['id']}", json={"modelFormatName": "bar", "artifactType": "model-artifact"}
        )
    )
    assert via_generic["modelFormatName"] == "bar"
    error(client.patch(f"{V1}/model_artifacts/{ma['id']}", json={"artifactType": "doc-artifact"}), 400)


def test_artifact_type_filter_on_lists(client: TestClient, version_id: str) -> None:
    for body in EVERY_TYPE:
        artifact(client, version_id, **body)
    for body in EVERY_TYPE:
        kind = body["artifactType"]
        items = ok(client.get(f"{V1}/artifacts", params={"artifactType": kind}))["items"]
        assert [a["artifactType"] for a in items] == [kind]
        nested = ok(client.get(f"{V1}/model_versions/{version_id}/artifacts", params={"artifactType": kind}))
        assert [a["name"] for a in nested["items"]] == [body["name"]]


@pytest.mark.parametrize(
    "fields",
    [
        {"timestamp": "99999999999999999999"},
        {"timestamp": "9223372036854775808"},
        {"step": "9223372036854775808"},
        {"step": 2**64},
        {"externalId": "e" * 256},
    ],
)
def test_values_beyond_their_columns_are_400(client: TestClient, version_id: str, fields: dict) -> None:
    body = {"artifactType": "metric", "name": "m", "value": 1.0, **fields}
    error(client.post(f"{V1}/model_versions/{version_id}/artifacts", json=body), 400)
    assert ok(client.get(f"{V1}/artifacts"))["size"] == 0


def test_linking_an_artifact_is_audited_with_the_version(client: TestClient) -> None:
    """Creating an artifact in one version and linking it into another are both attributed to the
    version they happened in, so the trail says where a shared artifact was linked."""
    registered = model(client, "audited")
    first = version(client, registered["id"], "v1")
    second = version(client, registered["id"], "v2")
    made = artifact(client, first["id"], name="weights", uri="s3://b/w")
    linked = {"artifactType": "model-artifact", "id": made["id"]}
    ok(client.post(f"{V1}/model_versions/{second['id']}/artifacts", json=linked), 200)
    trail = ok(client.get("/api/admin/v1/audit", params={"entity": f"artifact:{made['id']}"}))["items"]
    assert [(e["action"], e["detail"]) for e in trail] == [
        ("update", {"modelVersionId": second["id"]}),
        ("create", {"modelVersionId": first["id"]}),
    ]
