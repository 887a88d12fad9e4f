"""Robustness of the Kubeflow face: entity ids in paths and in `parentResourceId`.

An id that is not a positive int32 in decimal is a 400 on every route that takes one; a well-formed id
that names nothing is a 404.
"""

from __future__ import annotations

import pytest

from tests.integration.kf import V1
from tests.integration.robustness import Registry

ID_PATHS = [
    ("GET", "/registered_models/{}"),
    ("PATCH", "/registered_models/{}"),
    ("GET", "/registered_models/{}/versions"),
    ("POST", "/registered_models/{}/versions"),
    ("GET", "/model_versions/{}"),
    ("PATCH", "/model_versions/{}"),
    ("GET", "/model_versions/{}/artifacts"),
    ("POST", "/model_versions/{}/artifacts"),
    ("GET", "/artifacts/{}"),
    ("PATCH", "/artifacts/{}"),
    ("GET", "/model_artifacts/{}"),
    ("PATCH", "/model_artifacts/{}"),
    ("GET", "/serving_environments/{}"),
    ("PATCH", "/serving_environments/{}"),
    ("GET", "/serving_environments/{}/inference_services"),
    ("POST", "/serving_environments/{}/inference_services"),
    ("GET", "/inference_services/{}"),
    ("PATCH", "/inference_services/{}"),
    ("GET", "/inference_services/{}/model"),
    ("GET", "/inference_services/{}/version"),
    ("GET", "/inference_services/{}/serves"),
    ("POST", "/inference_services/{}/serves"),
]
# A body each write above would accept if the id in its path existed.
ID_PATH_BODIES = {
    "/registered_models/{}/versions": {"name": "orphan"},
    "/model_versions/{}/artifacts": {"artifactType": "model-artifact", "name": "orphan"},
    "/artifacts/{}": {"artifactType": "model-artifact"},
    "/serving_environments/{}/inference_services": {"name": "orphan", "registeredModelId": "1"},
    "/inference_services/{}/serves": {"modelVersionId": "1"},
}


def rejects_path_ids(registry: Registry, ids: list[str], status: int) -> None:
    for id_ in ids:
        for method, path in ID_PATHS:
            body = ID_PATH_BODIES.get(path, {}) if method != "GET" else None
            registry.rejects(method, V1 + path.format(id_), status, json=body)


@pytest.mark.parametrize(
    "ids",
    [
        pytest.param(["abc", "1.5", "1e3", "0x1", "%20", "1%00", "%EF%BC%91"], id="not a decimal id"),
        pytest.param(["0", "-1", "01"], id="zero, negative or zero-padded"),
        pytest.param(["2147483648", "4294967297", "99999999999999999999"], id="beyond int32"),
    ],
)
def test_malformed_id_in_a_path_is_rejected(registry: Registry, ids: list[str]) -> None:
    rejects_path_ids(registry, ids, 400)


def test_well_formed_unknown_id_in_a_path_is_not_found(registry: Registry) -> None:
    rejects_path_ids(registry, ["999", "2147483647"], 404)


def test_malformed_parent_resource_id_is_rejected(registry: Registry) -> None:
    finds = [
        ("/model_version", "world-version"),
        ("/artifact", "world-artifact"),
        ("/model_artifact", "world-artifact"),
        ("/inference_service", "world-service"),
    ]
    for parent in ["0", "-1", "abc", "1.5", "01", " 1", "2147483648", "99999999999999999999", "\uff11"]:
        for path, name in finds:
            registry.rejects("GET", V1 + path, params={"name": name, "parentResourceId": parent})
