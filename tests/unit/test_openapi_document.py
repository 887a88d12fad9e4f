"""The served OpenAPI document against the app's own route table: a route without documentation, or
documentation without a route, fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from modelshelf.api.access import route_table
from modelshelf.api.admin import PREFIX as ADMIN
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
