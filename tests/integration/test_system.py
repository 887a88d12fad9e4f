"""Health, readiness, the OpenAPI document and the offline Swagger UI."""

from __future__ import annotations

import re

from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from tests.integration.kf import ok


def test_health_and_readiness(client: TestClient) -> None:
    assert ok(client.get("/healthz")) == {"status": "ok"}
    assert ok(client.get("/readyz")) == {"status": "ok", "database": "ok"}


def test_readiness_fails_when_migrations_are_behind(client: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["database"] == "migrations are not current"
    finally:
        # The PostgreSQL database outlives the test (it is emptied, not re-created, between tests).
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})


def test_openapi_serves_both_prefixes_with_unique_operation_ids(client: TestClient) -> None:
    spec = ok(client.get("/openapi.json"))
    paths = spec["paths"]
    v1 = [p for p in paths if p.startswith("/api/model_registry/v1/")]
    alpha = [p for p in paths if p.startswith("/api/model_registry/v1alpha3/")]
    assert (len(v1), len(alpha)) == (24, 34)  # v1alpha3 adds experiments, runs and metric history
    operations = [
        op["operationId"]
        for path, item in paths.items()
        for m, op in item.items()
        if m in ("get", "post", "patch") and path.startswith("/api/model_registry/")
    ]
    assert len(operations) == 96 and len(set(operations)) == 96  # 40 on v1, 56 on v1alpha3
    # every list documents the 400 a bad filter gets
    assert "400" in paths["/api/model_registry/v1/registered_models"]["get"]["responses"]


def test_every_documented_operation_is_routed(client: TestClient) -> None:
    """No operation of the spec answers with the router's 404/405: each one reaches a handler."""
    spec = ok(client.get("/openapi.json"))
    for path, item in spec["paths"].items():
        for method in ("get", "post", "patch"):
            if method not in item:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            response = client.request(method.upper(), url, json={} if method != "get" else None)
            assert response.status_code != 405 and response.status_code < 500, (method, url, response.text)
            assert response.headers["content-type"].startswith("application/json"), (
                method,
                url,
                response.text,
            )


def test_swagger_ui_works_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: every asset is ours
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 100, asset
