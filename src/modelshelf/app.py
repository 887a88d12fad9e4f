"""The application factory: one ASGI app with every face mounted on one engine."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from modelshelf.api import admin, kubeflow, system
from modelshelf.api.access import Gate, LoopbackOnly
from modelshelf.api.errors import handle_http, handle_unexpected
from modelshelf.api.router import PrefixRouter
from modelshelf.settings import Settings
from modelshelf.store.engine import connect
from modelshelf.store.session import Database


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """Build the app. The engine is opened here (not at import) and disposed when the app shuts down."""
    engine = engine or connect(settings.effective_database_url, statement_timeout=settings.request_timeout)
    database = Database(engine, threads=settings.worker_threads)
    gate = Gate(database, enabled=settings.auth)
    timeout = settings.request_timeout

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            database.dispose()

    app = Starlette(exception_handlers={Exception: handle_unexpected, HTTPException: handle_http})
    app.router = PrefixRouter(
        [
            *kubeflow.mounts(database, settings.max_body_bytes, gate, timeout),
            *admin.mounts(database, settings.max_body_bytes, gate, timeout),
            *system.routes(database, min(system.READY_TIMEOUT_S, timeout)),
        ],
        lifespan=lifespan,
    )
    if not settings.auth:
        app.add_middleware(LoopbackOnly)
    app.state.engine = engine
    app.state.database = database
    app.state.settings = settings
    return app
