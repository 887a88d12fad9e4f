"""The one OpenAPI document `/openapi.json` serves: the Kubeflow API, the admin API and the Studio API.

The Kubeflow part is `kubeflow.openapi.document()` as it is; the admin part is `openapi/admin.yaml`, whose
operations use the Kubeflow part's error responses and Bearer scheme. Both faces answer errors alike, so
one set of those components tells the truth for both.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

from modelshelf import __version__
from modelshelf.api import admin
from modelshelf.api.kubeflow import openapi as kubeflow_openapi

TITLE = "modelshelf API: Kubeflow Model Registry REST API, DVC Studio API and admin API"


@cache
def document() -> dict[str, Any]:
    spec = copy.deepcopy(kubeflow_openapi.document())
    admin_spec = _fragment("admin.yaml")
    spec["info"]["title"] = TITLE
    spec["info"]["description"] = (
        f"The APIs modelshelf {__version__} serves. The Kubeflow Model Registry v1 API, under "
        f"{kubeflow_openapi.V1} and, for older clients, under {kubeflow_openapi.V1ALPHA3}. The admin API "
        f"(users, teams, tokens and the audit trail, tag Admin) under {admin.PREFIX}, for tokens with the "
        "admin scope. The DVC Studio API (Git models: create-project, get-download-uris and projects, tag "
        "DVC Studio) under /api."
    )
    for fragment in (admin_spec, _fragment("studio.yaml")):
        spec["tags"] = [*spec.get("tags", []), *fragment["tags"]]
        _merge(spec["paths"], fragment["paths"], "path")
        for kind, entries in fragment["components"].items():
            _merge(spec["components"].setdefault(kind, {}), entries, kind)
    spec["components"]["securitySchemes"]["Bearer"]["description"] = (
        "A modelshelf API token (msh_...). Kubeflow reads need the models:read scope, writes models:write; "
        "the admin API needs admin; Studio reads need models:read and project changes projects:create. "
        "`Authorization: token <token>` is accepted too."
    )
    # Every 401 this server gives carries the challenge, whichever face answers.
    spec["components"]["responses"]["Unauthorized"]["headers"] = {
        "WWW-Authenticate": {
            "description": 'Always `Bearer realm="modelshelf"`.',
            "schema": {"type": "string"},
        }
    }
    return spec


def _fragment(name: str) -> dict[str, Any]:
    text = resources.files("modelshelf.api").joinpath(f"openapi/{name}").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _merge(into: dict[str, Any], entries: dict[str, Any], kind: str) -> None:
    """Add `entries` to `into`; a name both parts define would silently change one face's description."""
    clash = sorted(into.keys() & entries.keys())
    if clash:
        raise ValueError(f"the admin OpenAPI fragment redefines {kind} {', '.join(clash)}")
    into.update(entries)
