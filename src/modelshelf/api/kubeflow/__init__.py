"""The Kubeflow Model Registry face: one implementation served under /v1 and /v1alpha3."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Mount

from modelshelf.api.kubeflow.errors import HANDLERS
from modelshelf.api.kubeflow.openapi import V1, V1ALPHA3
from modelshelf.api.kubeflow.routes import KubeflowAPI


def mounts(engine: Engine, max_body_bytes: int) -> list[Mount]:
    out = []
    for prefix, version in ((V1, "v1"), (V1ALPHA3, "v1alpha3")):
        api = KubeflowAPI(engine, version, max_body_bytes)
        out.append(Mount(prefix, app=Starlette(routes=api.routes(), exception_handlers=HANDLERS)))
    return out
