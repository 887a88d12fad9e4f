"""The served OpenAPI document against the app's own route table: a route without documentation, or
documentation without a route, fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from modelshelf.api.access import route_table
from modelshelf.api.admin import PREFIX as ADMIN
from modelshelf.api.kubeflow import openapi as kubeflow_openapi
from modelshelf.api.openapi import document
from modelshelf.app import create_app
from modelshelf.settings import Settings

METHODS = ("get", "put", "post", "delete", "patch")


def _routes() -> set[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://"))
    try:
        return {(d.method, d.path) for d in route_table(app)}
    finally:
        app.state.database.dispose()


ROUTES = _routes()


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def _any_parameter_name(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_admin_route_is_documented_with_its_method_and_nothing_more() -> None:
    routed = {(method, path) for method, path in ROUTES if path.startswith(ADMIN + "/")}
    documented = {(method, path) for method, path, _ in _operations() if path.startswith(ADMIN + "/")}
    assert routed == documented
    assert len(routed) == 15


def test_every_api_route_is_documented_and_every_operation_is_routed() -> None:
    """Across every face under /api/; the Kubeflow spec names path parameters its own way."""
    routed = {(method, _any_parameter_name(path)) for method, path in ROUTES if path.startswith("/api/")}
    documented = {(method, _any_parameter_name(path)) for method, path, _ in _operations()}
    assert routed == documented


def test_every_admin_operation_documents_the_refusals_every_admin_route_can_give() -> None:
    for method, path, operation in _operations():
        if not path.startswith(ADMIN + "/"):
            continue
        statuses = set(operation["responses"])
        assert {"400", "401", "403", "503"} <= statuses, (method, path)  # 400: a NUL in the query
        assert operation["tags"] == ["Admin"], (method, path)
        if "requestBody" in operation:
            assert "413" in statuses, (method, path)
        success = "201" if method == "POST" else "200"
        assert success in statuses, (method, path)


def test_operation_ids_are_unique() -> None:
    ids = [operation["operationId"] for _, _, operation in _operations()]
    assert len(ids) == len(set(ids))


def test_every_reference_resolves() -> None:
    """The admin part refers to the error responses and schemes that the Kubeflow part defines."""
    spec = document()

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in set(refs(spec)):
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            assert isinstance(target, dict) and part in target, ref
            target = target[part]
    security = {name for requirement in spec["security"] for name in requirement}
    assert security <= set(spec["components"]["securitySchemes"])


def test_the_description_names_both_apis() -> None:
    info = document()["info"]
    assert "Kubeflow" in info["title"] and "admin" in info["title"]
    assert ADMIN in info["description"]
    assert "Admin" in {tag["name"] for tag in document()["tags"]}


# --- one description per API version ----------------------------------------------------------------------


def _resolve(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """`node` with every `$ref` replaced by what it names (links dropped: they name operations)."""
    assert depth < 50, "a reference cycle"
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            return _resolve(spec, target, depth + 1)
        return {k: _resolve(spec, v, depth + 1) for k, v in node.items() if k not in ("links", "mapping")}
    if isinstance(node, list):
        return [_resolve(spec, v, depth + 1) for v in node]
    return node


def _wire(spec: dict[str, Any], operation: dict[str, Any]) -> Any:
    """What an operation says about the wire: parameters, body and responses, fully resolved."""
    return _resolve(spec, {k: operation.get(k) for k in ("parameters", "requestBody", "responses")})


@pytest.mark.parametrize("version", ["v1", "v1alpha3"])
def test_each_version_is_described_by_its_own_upstream_spec(version: str) -> None:
    """Each served operation under a prefix says exactly what that version's upstream spec says."""
    upstream = kubeflow_openapi._load(f"{version}.yaml")  # with the responses this server adds to both
    served = kubeflow_openapi.document()
    prefix = f"/api/model_registry/{version}/"

    def operations(spec: dict[str, Any]) -> dict[tuple[str, str], Any]:
        return {
            (method, _any_parameter_name(path)): operation
            for path, item in spec["paths"].items()
            for method, operation in item.items()
            if method in METHODS and path.startswith(prefix)
        }

    upstream_operations = operations(upstream)
    compared = 0
    for key, operation in operations(served).items():
        assert _wire(served, operation) == _wire(upstream, upstream_operations[key]), key
        compared += 1
    assert compared == {"v1": 40, "v1alpha3": 56}[version]  # v1alpha3 also has the experiment operations


def _metric_step(spec: dict[str, Any], path: str) -> Any:
    response = spec["paths"][path]["get"]["responses"]["200"]
    schema = _resolve(spec, response)["content"]["application/json"]["schema"]
    metric = next(
        variant
        for variant in schema["oneOf"]
        if any(
            part.get("properties", {}).get("artifactType", {}).get("enum") == ["metric"]
            for part in _parts(variant)
        )
    )
    steps = [part["properties"]["step"] for part in _parts(metric) if "step" in part.get("properties", {})]
    assert len(steps) == 1
    return steps[0]["type"]


def _parts(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield schema
    for part in schema.get("allOf", []):
        yield from _parts(part)


def test_metric_step_is_a_string_on_v1_and_an_integer_on_v1alpha3() -> None:
    spec = document()
    assert _metric_step(spec, "/api/model_registry/v1/artifacts/{id}") == "string"
    assert _metric_step(spec, "/api/model_registry/v1alpha3/artifacts/{id}") == "integer"


def test_versions_share_the_components_they_agree_on() -> None:
    schemas = document()["components"]["schemas"]
    assert "MetricV1alpha3" in schemas and "Metric" in schemas
    assert "RegisteredModelV1alpha3" not in schemas  # identical in both specs: described once
    assert "ExperimentRunV1alpha3" in schemas and "ExperimentRun" not in schemas  # v1alpha3's own
