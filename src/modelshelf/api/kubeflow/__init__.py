"""The Kubeflow Model Registry face: one implementation served under /v1 and /v1alpha3."""

from __future__ import annotations

from starlette.routing import Mount, Route

from modelshelf.api.access import Gate, protect, requires
from modelshelf.api.kubeflow.errors import KUBEFLOW
from modelshelf.api.kubeflow.openapi import V1, V1ALPHA3
from modelshelf.api.kubeflow.routes import KubeflowAPI
from modelshelf.api.kubeflow.table import routes
from modelshelf.api.router import SegmentRouter
from modelshelf.auth.tokens import Scope
from modelshelf.store.session import Database

# Reads need models:read; every write (POST creates or upserts, PATCH updates) needs models:write. A route
# with another method has no decision here, and the app refuses to start.
ACCESS = {
    "GET": requires(Scope.MODELS_READ),
    "POST": requires(Scope.MODELS_WRITE),
    "PATCH": requires(Scope.MODELS_WRITE),
}


def mounts(database: Database, max_body_bytes: int, gate: Gate, timeout: float) -> list[Mount]:
    """Every operation under both prefixes, each prefix with its own segment-indexed router."""
    out = []
    for prefix, version in ((V1, "v1"), (V1ALPHA3, "v1alpha3")):
        table = []
        for route in routes(KubeflowAPI(database, version, max_body_bytes)):
            assert isinstance(route, Route) and route.methods
            for method in sorted(route.methods - {"HEAD"}):
                access = ACCESS[method]
                handler = KUBEFLOW.guard(protect(route.endpoint, access, gate), timeout=timeout)
                table.append((method, route.path, handler, access))
        out.append(Mount(prefix, app=SegmentRouter(table, KUBEFLOW)))
    return out
