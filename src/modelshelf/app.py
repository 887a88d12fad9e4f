"""The application factory: one ASGI app with every face mounted on one engine."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import Engine
from starlette.applications import Starlette

from modelshelf.api import kubeflow, system
from modelshelf.api.kubeflow.errors import handle_unexpected
from modelshelf.settings import Settings
from modelshelf.store.engine import connect
from modelshelf.store.session import Database


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """Build the app. The engine is opened here (not at import) and disposed when the app shuts down."""
    engine = engine or connect(settings.effective_database_url)
    database = Database(engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            database.dispose()

    app = Starlette(
        routes=[*kubeflow.mounts(database, settings.max_body_bytes), *system.routes(engine)],
        exception_handlers={Exception: handle_unexpected},
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.database = database
    app.state.settings = settings
    return app
