"""The OpenAPI document we serve: the upstream v1 spec under /v1, the upstream v1alpha3 spec under /v1alpha3.

Each prefix is described by its own upstream spec, because the two differ on the wire (`Metric.step` is a
string on v1 and an integer on v1alpha3; v1alpha3 artifacts may carry `experimentId`/`experimentRunId`).
Both live in one document, so a v1alpha3 component that differs from v1's, or refers to one that does,
is added under its name with the suffix `V1alpha3` (`MetricV1alpha3`); components the versions share
appear once. Every v1alpha3 operation is described: the 40 of v1 and the 16 experiment operations that
only v1alpha3 has.

The responses this server really gives are added where upstream leaves them out (a 400 on a list with a
bad filter, a 409 on a duplicate, a 413 on a huge body), so a generated client or a schema checker is told
the truth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import yaml

from modelshelf import __version__

V1 = "/api/model_registry/v1"
V1ALPHA3 = "/api/model_registry/v1alpha3"
ALPHA_SUFFIX = "V1alpha3"  # of v1alpha3 operation ids and of v1alpha3 components that differ from v1's
ALPHA_TAG = "ModelRegistryService (v1alpha3)"


@cache
def document() -> dict[str, Any]:
    spec = _load("v1.yaml")
    alpha = _load("v1alpha3.yaml")
    spec["info"]["title"] = "modelshelf — Kubeflow Model Registry REST API"
    spec["info"]["description"] = (
        f"The Kubeflow Model Registry API as served by modelshelf {__version__}: v1 under {V1} and, for "
        f"older clients, the same operations under {V1ALPHA3} (tag {ALPHA_TAG}), with the experiments, "
        f"experiment runs and metric history that only v1alpha3 has, each version described by its own "
        f"spec. Schemas of v1alpha3 that differ from v1's carry the suffix {ALPHA_SUFFIX}: for instance "
        f"`Metric.step` is a string on v1 and an integer (`Metric{ALPHA_SUFFIX}`) on v1alpha3."
    )
    spec["servers"] = [{"url": "/"}]
    spec["tags"] = [
        *spec.get("tags", []),
        {"name": ALPHA_TAG, "description": f"The operations under {V1ALPHA3}."},
    ]
    renamed = _differing(alpha, spec["components"])
    _rename(alpha, renamed)
    for kind, name in _reachable(alpha, alpha["paths"]):
        if (kind, name[: -len(ALPHA_SUFFIX)]) in renamed:
            spec["components"][kind][name] = alpha["components"][kind][name]
    for item in alpha["paths"].values():
        for method in ("get", "post", "patch"):
            if method in item:
                item[method]["operationId"] += ALPHA_SUFFIX
                item[method]["tags"] = [ALPHA_TAG]
    spec["paths"] = {**spec["paths"], **alpha["paths"]}
    return spec


def _load(name: str) -> dict[str, Any]:
    """An upstream spec with the additions that hold for both versions."""
    text = resources.files("modelshelf.api.kubeflow").joinpath(f"openapi/{name}").read_text(encoding="utf-8")
    spec: dict[str, Any] = yaml.safe_load(text)
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
    if name == "v1alpha3.yaml":
        # The Go server answers createInferenceService with 201 on both versions (as this one does); only
        # the v1alpha3 spec says 200.
        responses = spec["paths"][V1ALPHA3 + "/inference_services"]["post"]["responses"]
        responses["201"] = responses.pop("200")
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method in ("get", "post", "patch"):
                _document_responses(method, operation["responses"])
    return spec


_REF = re.compile(r"#/components/([A-Za-z]+)/([^/]+)")


def _strings(node: Any) -> Iterator[str]:
    """Every string in `node`: `$ref`s and discriminator mappings both name components."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _refs(node: Any) -> set[tuple[str, str]]:
    return {(m[1], m[2]) for text in _strings(node) if (m := _REF.fullmatch(text))}


def _differing(alpha: dict[str, Any], v1_components: dict[str, Any]) -> set[tuple[str, str]]:
    """The v1alpha3 components that are not v1's: unlike it, or referring to one that is, transitively."""
    components = alpha["components"]
    own = {
        (kind, name): _refs(value) for kind, entries in components.items() for name, value in entries.items()
    }
    differing = {
        (kind, name) for kind, name in own if v1_components.get(kind, {}).get(name) != components[kind][name]
    }
    grew = True
    while grew:
        more = {key for key, refs in own.items() if key not in differing and refs & differing}
        differing |= more
        grew = bool(more)
    return differing


def _rename(alpha: dict[str, Any], renamed: set[tuple[str, str]]) -> None:
    """Suffix the names of `renamed` components and every reference to them, links' operations too."""
    names = {
        f"#/components/{kind}/{name}": f"#/components/{kind}/{name}{ALPHA_SUFFIX}" for kind, name in renamed
    }

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(value) for value in node]
        return names.get(node, node) if isinstance(node, str) else node

    alpha["paths"] = rewrite(alpha["paths"])
    components: dict[str, dict[str, Any]] = {}
    for kind, entries in alpha["components"].items():
        components[kind] = {}
        for name, value in entries.items():
            new_name = name + ALPHA_SUFFIX if (kind, name) in renamed else name
            components[kind][new_name] = rewrite(value)
    for name, link in components.get("links", {}).items():
        if name.endswith(ALPHA_SUFFIX) and "operationId" in link:
            link["operationId"] += ALPHA_SUFFIX  # the v1alpha3 operations are renamed alike
    alpha["components"] = components


def _reachable(spec: dict[str, Any], root: Any) -> set[tuple[str, str]]:
    """The components `root` refers to, directly or through other components."""
    found: set[tuple[str, str]] = set()
    todo = list(_refs(root))
    while todo:
        key = todo.pop()
        if key not in found:
            found.add(key)
            todo.extend(_refs(spec["components"][key[0]][key[1]]))
    return found


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
