"""The OpenAPI document we serve: the upstream v1 spec, mounted under both prefixes.

The responses this server really gives are added where upstream leaves them out (a 400 on a list with a
bad filter, a 409 on a duplicate, a 413 on a huge body), so a generated client or a schema checker is told
the truth."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

from modelshelf import __version__

V1 = "/api/model_registry/v1"
V1ALPHA3 = "/api/model_registry/v1alpha3"


@cache
def document() -> dict[str, Any]:
    text = resources.files("modelshelf.api.kubeflow").joinpath("openapi/v1.yaml").read_text(encoding="utf-8")
    spec: dict[str, Any] = yaml.safe_load(text)
    spec["info"]["title"] = "modelshelf — Kubeflow Model Registry REST API"
    spec["info"]["description"] = (
        "The Kubeflow Model Registry v1 API as served by modelshelf "
        + __version__
        + ". Every operation is also "
        "served under " + V1ALPHA3 + " for older clients."
    )
    spec["servers"] = [{"url": "/"}]
    components = spec["components"]["responses"]
    components["PayloadTooLarge"] = {
        "description": "The request body is larger than the server accepts.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    components["Forbidden"] = {
        "description": "The token is valid but lacks the scope this operation needs.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    spec["components"]["securitySchemes"]["Bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "opaque",
        "description": "A modelshelf API token (msh_...). Reads need the models:read scope, writes "
        "models:write. `Authorization: token <token>` is accepted too.",
    }
    _pin_artifact_types(spec["components"]["schemas"])
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "patch"):
                _document_responses(method, operation["responses"])
        paths[path] = item
    for path, item in list(paths.items()):
        alpha = copy.deepcopy(item)
        for method in ("get", "post", "patch"):
            if method in alpha:
                alpha[method]["operationId"] += "V1alpha3"
                alpha[method]["tags"] = ["ModelRegistryService (v1alpha3)"]
        paths[path.replace(V1, V1ALPHA3, 1)] = alpha
    spec["paths"] = paths
    return spec


def _document_responses(method: str, responses: dict[str, Any]) -> None:
    wanted = {"400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound"}
    if method in ("post", "patch"):
        wanted |= {"409": "Conflict", "413": "PayloadTooLarge"}
    if method == "post":
        wanted["422"] = "UnprocessableEntity"
    for status, name in wanted.items():
        responses.setdefault(status, {"$ref": f"#/components/responses/{name}"})


def _pin_artifact_types(schemas: dict[str, Any]) -> None:
    """Give each artifact variant's `artifactType` its one value as an enum.

    Upstream declares it with a default only, so to a JSON Schema validator (which ignores the OpenAPI
    discriminator) a model artifact also validates as a doc artifact and `oneOf` fails. The server accepts
    exactly one value per variant, so the enum is the truth.
    """

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            artifact_type = node.get("properties", {}).get("artifactType")
            if isinstance(artifact_type, dict) and "default" in artifact_type:
                artifact_type["enum"] = [artifact_type["default"]]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schemas)
