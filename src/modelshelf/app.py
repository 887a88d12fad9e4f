"""The application factory: one ASGI app with every face mounted on one engine."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import Engine
from starlette.applications import Starlette

from modelshelf.api import admin, kubeflow, system
from modelshelf.api.access import Gate, LoopbackOnly
from modelshelf.api.errors import handle_unexpected
from modelshelf.api.router import PrefixRouter
from modelshelf.settings import Settings
from modelshelf.store.engine import connect
from modelshelf.store.session import Database


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """Build the app. The engine is opened here (not at import) and disposed when the app shuts down."""
    engine = engine or connect(settings.effective_database_url)
    database = Database(engine)
    gate = Gate(database, enabled=settings.auth)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            database.dispose()

    app = Starlette(exception_handlers={Exception: handle_unexpected})
    app.router = PrefixRouter(
        [
            *kubeflow.mounts(database, settings.max_body_bytes, gate),
            *admin.mounts(database, settings.max_body_bytes, gate),
            *system.routes(engine),
        ],
        lifespan=lifespan,
    )
    if not settings.auth:
        app.add_middleware(LoopbackOnly)
    app.state.engine = engine
    app.state.database = database
    app.state.settings = settings
    return app
