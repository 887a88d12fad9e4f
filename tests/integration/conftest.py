"""Fixtures of the Kubeflow robustness tests (`test_robustness_*.py`); helpers are in `robustness.py`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.fixtures.storage import azurite, moto_s3  # noqa: F401  (storage emulators, session-scoped)
from tests.integration.kf import V1, artifact, model, ok, version
from tests.integration.robustness import Registry, World

# --- the registry every test starts from ----------------------------------------------------------------


@pytest.fixture
def world(client: TestClient) -> World:
    """One of each entity: a model with a version holding an artifact, served by a service in an env."""
    m = model(client, "world-model")["id"]
    v = version(client, m, "world-version")["id"]
    a = artifact(client, v, name="world-artifact", uri="s3://world/model")["id"]
    se = ok(client.post(f"{V1}/serving_environments", json={"name": "world-env"}), 201)["id"]
    service = {
        "name": "world-service",
        "registeredModelId": m,
        "servingEnvironmentId": se,
        "modelVersionId": v,
    }
    svc = ok(client.post(f"{V1}/inference_services", json=service), 201)["id"]
    ok(client.post(f"{V1}/inference_services/{svc}/serves", json={"modelVersionId": v}), 201)
    return {"m": m, "v": v, "a": a, "se": se, "svc": svc}


@pytest.fixture
def registry(client: TestClient, engine: Engine, world: World) -> Iterator[Registry]:
    registry = Registry(client, engine, world)
    yield registry
    if registry.database_unchanged():  # otherwise the test has failed already, and said why
        registry.assert_lists_unchanged()
