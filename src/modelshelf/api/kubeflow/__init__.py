"""The Kubeflow Model Registry face: one implementation served under /v1 and /v1alpha3."""

from __future__ import annotations

from starlette.routing import Mount, Route

from modelshelf.api.kubeflow.errors import guarded
from modelshelf.api.kubeflow.openapi import V1, V1ALPHA3
from modelshelf.api.kubeflow.router import SegmentRouter
from modelshelf.api.kubeflow.routes import KubeflowAPI
from modelshelf.store.session import Database


def mounts(database: Database, max_body_bytes: int) -> list[Mount]:
    """Every operation under both prefixes, each prefix with its own segment-indexed router."""
    out = []
    for prefix, version in ((V1, "v1"), (V1ALPHA3, "v1alpha3")):
        table = []
        for route in KubeflowAPI(database, version, max_body_bytes).routes():
            assert isinstance(route, Route) and route.methods
            table += [
                (method, route.path, guarded(route.endpoint)) for method in route.methods if method != "HEAD"
            ]
        out.append(Mount(prefix, app=SegmentRouter(table)))
    return out
