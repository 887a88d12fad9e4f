"""Robustness of the Kubeflow face: unknown routes are 404 and wrong methods 405, changing nothing."""

from __future__ import annotations

from tests.integration.kf import V1, V1ALPHA3
from tests.integration.robustness import Registry


def test_unknown_route_is_404(registry: Registry) -> None:
    paths = [
        "/",
        "/nope",
        "/api",
        "/api/model_registry",
        "/api/model_registry/v1/",
        "/api/model_registry/v2/registered_models",
        "/API/model_registry/v1/registered_models",
        "/api/model_registry/v1/registeredModels",
        "/api/model_registry/v1/registered_models/1/nope",
        "/api/model_registry/v1/registered_models/1/versions/1",
        "/api/model_registry/v1/model_versions/1/artifacts/1",
        "/api/model_registry/v1/experiments",
        "/api/model_registry/v1/experiment_runs",
    ]
    for path in paths:
        for method in ("GET", "POST", "PATCH"):
            response = registry.client.request(method, path, json={} if method != "GET" else None)
            assert response.status_code == 404, (method, path, response.status_code, response.text[:200])
    assert registry.database_unchanged()


def test_wrong_method_is_405_and_changes_nothing(registry: Registry) -> None:
    requests = [
        ("DELETE", "/registered_models/{m}"),
        ("PUT", "/registered_models/{m}"),
        ("POST", "/registered_models/{m}"),
        ("DELETE", "/registered_models"),
        ("PATCH", "/registered_models"),
        ("PUT", "/registered_models"),
        ("POST", "/registered_model"),
        ("DELETE", "/model_versions/{v}"),
        ("PATCH", "/model_versions/{v}/artifacts"),
        ("DELETE", "/artifacts/{a}"),
        ("PUT", "/artifacts/{a}"),
        ("POST", "/model_artifacts/{a}"),
        ("DELETE", "/serving_environments/{se}"),
        ("DELETE", "/inference_services/{svc}"),
        ("POST", "/inference_services/{svc}/model"),
        ("POST", "/inference_services/{svc}/version"),
        ("PATCH", "/inference_services/{svc}/serves"),
        ("OPTIONS", "/registered_models"),
    ]
    for method, path in requests:
        for prefix in (V1, V1ALPHA3):
            url = prefix + path.format(**registry.world)
            response = registry.client.request(method, url, json={"name": "x"})
            assert response.status_code == 405, (method, url, response.status_code, response.text[:200])
    assert registry.database_unchanged()
