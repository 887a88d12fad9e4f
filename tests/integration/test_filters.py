"""filterQuery through the API: every list endpoint, built-in and custom properties."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, artifact, error, model, ok, props, version


def _names(client: TestClient, url: str, query: str, **params: Any) -> list[str]:
    page = ok(client.get(url, params={"filterQuery": query, **params}))
    return [item["name"] for item in page["items"]]


@pytest.fixture
def models(client: TestClient) -> None:
    model(
        client,
        "alpha",
        owner="ann",
        customProperties=props(accuracy=0.9, epochs=10, framework="torch", ok=True),
    )
    model(
        client, "beta", owner="bob", customProperties=props(accuracy=0.7, epochs=3, framework="tf", ok=False)
    )
    model(client, "gamma", owner="ann", customProperties=props(accuracy=0.95, framework="torch"))
    ok(client.patch(f"{V1}/registered_models/3", json={"state": "ARCHIVED"}))


@pytest.mark.usefixtures("models")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name = 'alpha'", ["alpha"]),
        ('name != "alpha"', ["beta", "gamma"]),
        ("name <> 'alpha'", ["beta", "gamma"]),
        ("name LIKE 'a%'", ["alpha"]),
        ("name ILIKE 'B%'", ["beta"]),
        ("name IN ('alpha', 'gamma')", ["alpha", "gamma"]),
        ("state = 'LIVE'", ["alpha", "beta"]),
        ("owner = 'ann' AND state = 'LIVE'", ["alpha"]),
        ("owner = 'bob' OR state = 'ARCHIVED'", ["beta", "gamma"]),
        ("(name = 'alpha' OR name = 'beta') AND owner = 'ann'", ["alpha"]),
        ("accuracy > 0.8", ["alpha", "gamma"]),
        ("accuracy > 0", ["alpha", "beta", "gamma"]),  # an integer literal matches doubles too
        ("epochs >= 10", ["alpha"]),
        ("epochs.int_value < 5", ["beta"]),
        ("framework = 'torch'", ["alpha", "gamma"]),
        ("framework.string_value = 'tf'", ["beta"]),
        ("ok = true", ["alpha"]),
        ("`framework` = 'torch' AND accuracy < 0.92", ["alpha"]),
        ("id > 1", ["beta", "gamma"]),
        ("missing = 'x'", []),
        ("", ["alpha", "beta", "gamma"]),
    ],
)
def test_registered_model_filters(client: TestClient, query: str, expected: list[str]) -> None:
    assert _names(client, f"{V1}/registered_models", query) == expected


@pytest.mark.usefixtures("models")
def test_filter_with_paging_and_ordering(client: TestClient) -> None:
    url = f"{V1}/registered_models"
    first = ok(client.get(url, params={"filterQuery": "owner = 'ann'", "pageSize": "1", "sortOrder": "DESC"}))
    assert [m["name"] for m in first["items"]] == ["gamma"]
    second = ok(
        client.get(
            url,
            params={
                "filterQuery": "owner = 'ann'",
                "pageSize": "1",
                "sortOrder": "DESC",
                "nextPageToken": first["nextPageToken"],
            },
        )
    )
    assert [m["name"] for m in second["items"]] == ["alpha"] and second["nextPageToken"] == ""


@pytest.mark.parametrize(
    "query", ["name = ", "name = alpha", "(name = 'a'", "name ~ 'a'", "AND", "name IN 'a'"]
)
def test_bad_filters_are_400(client: TestClient, query: str) -> None:
    error(client.get(f"{V1}/registered_models", params={"filterQuery": query}), 400, "filter")


def test_every_list_endpoint_filters(client: TestClient) -> None:
    rm = model(client, "m")
    v1 = version(client, rm["id"], "v1", author="ann", customProperties=props(stage="prod"))
    version(client, rm["id"], "v2", author="bob")
    artifact(client, v1["id"], name="w1", uri="s3://1", modelFormatName="onnx")
    artifact(client, v1["id"], name="w2", uri="s3://2", modelFormatName="torch")
    artifact(client, v1["id"], artifactType="metric", name="acc", value=0.9)
    env = ok(client.post(f"{V1}/serving_environments", json={"name": "prod"}), 201)
    ok(client.post(f"{V1}/serving_environments", json={"name": "dev"}), 201)
    for name, runtime in (("s1", "kserve"), ("s2", "triton")):
        body = {
            "name": name,
            "registeredModelId": rm["id"],
            "servingEnvironmentId": env["id"],
            "runtime": runtime,
        }
        ok(client.post(f"{V1}/inference_services", json=body), 201)
    ok(
        client.post(
            f"{V1}/inference_services/1/serves",
            json={"name": "a", "modelVersionId": v1["id"], "lastKnownState": "RUNNING"},
        ),
        201,
    )
    ok(client.post(f"{V1}/inference_services/1/serves", json={"name": "b", "modelVersionId": v1["id"]}), 201)

    assert _names(client, f"{V1}/model_versions", "author = 'ann'") == ["v1"]
    assert _names(client, f"{V1}/model_versions", "stage = 'prod'") == ["v1"]
    assert _names(client, f"{V1}/registered_models/{rm['id']}/versions", "author = 'bob'") == ["v2"]
    assert _names(client, f"{V1}/artifacts", "modelFormatName = 'onnx'") == ["w1"]
    assert _names(client, f"{V1}/artifacts", "value > 0.5", artifactType="metric") == ["acc"]
    assert _names(client, f"{V1}/model_artifacts", "uri LIKE '%2'") == ["w2"]
    assert _names(client, f"{V1}/model_versions/{v1['id']}/artifacts", "name = 'w2'") == ["w2"]
    assert _names(client, f"{V1}/serving_environments", "name = 'dev'") == ["dev"]
    assert _names(client, f"{V1}/inference_services", "runtime = 'triton'") == ["s2"]
    assert _names(
        client, f"{V1}/serving_environments/{env['id']}/inference_services", "runtime = 'kserve'"
    ) == ["s1"]
    assert _names(client, f"{V1}/inference_services/1/serves", "lastKnownState = 'RUNNING'") == ["a"]


def test_like_case_follows_the_database_and_ilike_ignores_it(client: TestClient, backend: str) -> None:
    """As documented in docs/compatibility.md: LIKE is the database's own, ILIKE is the same everywhere."""
    model(client, "Alpha")
    model(client, "alpha-2")
    like = _names(client, f"{V1}/registered_models", "name LIKE 'alpha%'")
    assert like == (["alpha-2"] if backend == "postgres" else ["Alpha", "alpha-2"])
    assert _names(client, f"{V1}/registered_models", "name ILIKE 'ALPHA%'") == ["Alpha", "alpha-2"]
    assert _names(client, f"{V1}/registered_models", "name LIKE 'alpha\\%'") == []  # \% is a literal %


@pytest.mark.parametrize("query", ["id = 2147483648", "registeredModelId IN (1, 3000000000)"])
def test_ids_beyond_int32_in_filters_are_400(client: TestClient, query: str) -> None:
    error(client.get(f"{V1}/model_versions", params={"filterQuery": query}), 400, "32-bit")
