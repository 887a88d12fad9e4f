"""Small helpers for talking to the Kubeflow face in tests."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

V1 = "/api/model_registry/v1"
V1ALPHA3 = "/api/model_registry/v1alpha3"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "message"}, body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body)
    return dict(body)


def model(client: TestClient, name: str = "m", prefix: str = V1, **fields: Any) -> dict[str, Any]:
    return ok(client.post(f"{prefix}/registered_models", json={"name": name, **fields}), 201)  # type: ignore[no-any-return]


def version(
    client: TestClient, model_id: str, name: str = "v1", prefix: str = V1, **fields: Any
) -> dict[str, Any]:
    body = {"name": name, "registeredModelId": model_id, **fields}
    return ok(client.post(f"{prefix}/model_versions", json=body), 201)  # type: ignore[no-any-return]


def artifact(
    client: TestClient, version_id: str, prefix: str = V1, status: int = 201, **fields: Any
) -> dict[str, Any]:
    body = {"artifactType": "model-artifact", **fields}
    return ok(client.post(f"{prefix}/model_versions/{version_id}/artifacts", json=body), status)  # type: ignore[no-any-return]


def props(**values: Any) -> dict[str, Any]:
    """customProperties the way the official client writes them."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = {"metadataType": "MetadataBoolValue", "bool_value": value}
        elif isinstance(value, int):
            out[key] = {"metadataType": "MetadataIntValue", "int_value": str(value)}
        elif isinstance(value, float):
            out[key] = {"metadataType": "MetadataDoubleValue", "double_value": value}
        else:
            out[key] = {"metadataType": "MetadataStringValue", "string_value": value}
    return out
