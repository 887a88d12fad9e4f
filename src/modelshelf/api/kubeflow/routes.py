"""The Kubeflow Model Registry REST API, served under `/api/model_registry/v1` and `/v1alpha3`.

Handlers are thin: parse, call a service inside one transaction, render. One `KubeflowAPI` is built per
API version; the versions differ only in how a metric's `step` is written. Which handler serves which
method and path is in `table.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelshelf.api.access import principal_of
from modelshelf.api.http import JSON, read_json
from modelshelf.api.kubeflow import codec, paging, params
from modelshelf.api.kubeflow.codec import Renderer
from modelshelf.domain.entities import (
    ANY_ARTIFACT,
    ARTIFACTS,
    EXPERIMENT,
    EXPERIMENT_FIELDS,
    EXPERIMENT_RUN,
    INFERENCE_SERVICE,
    METRIC_HISTORY,
    MODEL_ARTIFACT,
    MODEL_VERSION,
    REGISTERED_MODEL,
    SERVE_MODEL,
    SERVING_ENVIRONMENT,
    Entity,
)
from modelshelf.errors import InvalidArgument, NotFound
from modelshelf.services import artifacts, audit, models, records, serving
from modelshelf.store.repository import Page, Row
from modelshelf.store.session import Database, Session

Handler = Callable[[Request], Awaitable[Response]]
# Output-only fields that a full-schema body (the nested POSTs) may repeat; v1 artifacts have no experiment.
OUTPUT_ONLY = {
    "v1": ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"),
    "v1alpha3": ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch", "experimentId", "experimentRunId"),
}


class KubeflowAPI:
    def __init__(self, database: Database, version: str, max_body_bytes: int) -> None:
        self.database = database
        self.version = version
        self.output_only = OUTPUT_ONLY[version]
        self.max_body_bytes = max_body_bytes
        v1 = version == "v1"
        omit = frozenset(f.api for f in EXPERIMENT_FIELDS) if v1 else frozenset()
        self.render_of: dict[str, Renderer] = {
            e.table if e.artifact_type is None else e.artifact_type: codec.renderer(
                e, step_as_string=v1, omit=omit
            )
            for e in (
                REGISTERED_MODEL,
                MODEL_VERSION,
                SERVING_ENVIRONMENT,
                INFERENCE_SERVICE,
                SERVE_MODEL,
                EXPERIMENT,
                EXPERIMENT_RUN,
                METRIC_HISTORY,
                *ARTIFACTS.values(),
            )
        }

    # --- plumbing ------------------------------------------------------------------------------------

    def one(self, entity: Entity, row: Row, status: int = 200) -> Response:
        key = entity.artifact_type or entity.table
        if entity.table == "artifact":
            key = row["artifact_type"]
        return JSON(self.render_of[key](row), status_code=status)

    def page(self, entity: Entity, page: Page) -> Response:
        if entity.table == "artifact":
            items = [self.render_of[row["artifact_type"]](row) for row in page.rows]
        else:
            render = self.render_of[entity.table]
            items = [render(row) for row in page.rows]
        return JSON(
            {
                "items": items,
                "nextPageToken": paging.encode_token(page.next),
                "pageSize": page.page_size,
                "size": len(items),
            }
        )

    async def body(self, request: Request) -> object:
        return await read_json(request, self.max_body_bytes)

    def audited(
        self,
        conn: Session,
        request: Request,
        entity: Entity,
        row: Row,
        *,
        created: bool,
        detail: dict[str, Any] | None = None,
    ) -> Row:
        """Record the write in the audit trail, in its transaction; artifacts of every type are "artifact"."""
        kind = "artifact" if entity.table == "artifact" else entity.table
        action = "create" if created else "update"
        audit.record(conn, principal_of(request), action, kind, row["id"], detail)
        return row

    # --- generic handlers ----------------------------------------------------------------------------

    def get_handler(self, entity: Entity, param: str) -> Handler:
        async def handler(request: Request) -> Response:
            id_ = params.path_id(request, param)
            row = await self.database.looking_up(lambda s: records.must_get(s, entity, id_))
            return self.one(entity, row)

        return handler

    def create_handler(self, entity: Entity, create: Callable[[Session, dict[str, Any]], Row]) -> Handler:
        async def handler(request: Request) -> Response:
            values = codec.decode(await self.body(request), entity, entity.create_fields)

            def work(conn: Session) -> Response:
                row = self.audited(conn, request, entity, create(conn, values), created=True)
                return self.one(entity, row, 201)

            return await self.database.writing(work)

        return handler

    def update_handler(
        self,
        entity: Entity,
        param: str,
        update: Callable[[Session, int, dict[str, Any]], Row] | None = None,
    ) -> Handler:
        def default_update(conn: Session, id_: int, values: dict[str, Any]) -> Row:
            return records.update(conn, entity, id_, values)

        apply = update or default_update

        async def handler(request: Request) -> Response:
            id_ = params.path_id(request, param)
            values = codec.decode(await self.body(request), entity, entity.update_fields)

            def work(conn: Session) -> Response:
                row = self.audited(conn, request, entity, apply(conn, id_, values), created=False)
                return self.one(entity, row)

            return await self.database.writing(work)

        return handler

    def list_handler(self, entity: Entity, fetch: Callable[[Session, Request], Page]) -> Handler:
        async def handler(request: Request) -> Response:
            return await self.database.reading(lambda conn: self.page(entity, fetch(conn, request)))

        return handler

    def find_handler(self, entity: Entity, fetch: Callable[[Session, Request], Row]) -> Handler:
        async def handler(request: Request) -> Response:
            return self.one(entity, await self.database.looking_up(lambda s: fetch(s, request)))

        return handler

    # --- handlers with their own shape -----------------------------------------------------------------

    async def create_artifact(self, request: Request) -> Response:
        body = await self.body(request)
        entity = artifacts.entity_for(artifact_type_of(body))
        values = codec.decode(body, entity, entity.create_fields)

        def work(conn: Session) -> Response:
            row = self.audited(conn, request, entity, artifacts.create(conn, entity, values), created=True)
            return self.one(entity, row, 201)

        return await self.database.writing(work)

    async def create_model_artifact(self, request: Request) -> Response:
        values = codec.decode(await self.body(request), MODEL_ARTIFACT, MODEL_ARTIFACT.create_fields)

        def work(conn: Session) -> Response:
            row = artifacts.create(conn, MODEL_ARTIFACT, values)
            return self.one(
                MODEL_ARTIFACT, self.audited(conn, request, MODEL_ARTIFACT, row, created=True), 201
            )

        return await self.database.writing(work)

    async def update_artifact(self, request: Request) -> Response:
        id_ = params.path_id(request)
        body = await self.body(request)
        entity = artifacts.entity_for(artifact_type_of(body))
        values = codec.decode(body, entity, entity.update_fields)

        def work(conn: Session) -> Response:
            row = self.audited(
                conn, request, entity, artifacts.update(conn, id_, entity, values), created=False
            )
            return self.one(entity, row)

        return await self.database.writing(work)

    async def get_artifact(self, request: Request) -> Response:
        id_ = params.path_id(request)
        row = await self.database.looking_up(lambda s: records.get(s, ANY_ARTIFACT, id_))
        if row is None:
            raise NotFound(f"artifact with id {id_} not found")
        return self.one(ANY_ARTIFACT, row)

    async def upsert_version_artifact(self, request: Request) -> Response:
        version_id = params.path_id(request, "version_id")
        body = await self.body(request)
        entity = artifacts.entity_for(artifact_type_of(body))
        id_ = body_id(body)
        values = codec.decode(body, entity, entity.create_fields | entity.update_fields, self.output_only)

        def work(conn: Session) -> Response:
            row, created = artifacts.upsert_into_model_version(conn, version_id, entity, id_, values)
            # Also written when the artifact existed and only gained a link: the version says where.
            linked = {"modelVersionId": str(version_id)}
            self.audited(conn, request, entity, row, created=created, detail=linked)
            return self.one(entity, row, 201 if created else 200)

        return await self.database.writing(work)

    async def upsert_model_version(self, request: Request) -> Response:
        model_id = params.path_id(request, "model_id")
        body = await self.body(request)
        id_ = body_id(body)
        values = codec.decode(
            body,
            MODEL_VERSION,
            MODEL_VERSION.create_fields | MODEL_VERSION.update_fields,
            self.output_only,
        )
        if values.get("registered_model_id", model_id) != model_id:
            raise InvalidArgument(
                f"registeredModelId {values['registered_model_id']} in the body "
                f"differs from {model_id} in the path"
            )

        def work(conn: Session) -> Response:
            row = models.upsert_model_version(conn, model_id, id_, values)
            self.audited(conn, request, MODEL_VERSION, row, created=id_ is None)
            return self.one(MODEL_VERSION, row, 201 if id_ is None else 200)

        return await self.database.writing(work)

    async def create_environment_service(self, request: Request) -> Response:
        environment_id = params.path_id(request, "environment_id")
        values = codec.decode(await self.body(request), INFERENCE_SERVICE, INFERENCE_SERVICE.create_fields)
        if values.setdefault("serving_environment_id", environment_id) != environment_id:
            raise InvalidArgument(
                f"servingEnvironmentId {values['serving_environment_id']} in the body differs from "
                f"{environment_id} in the path"
            )

        def work(conn: Session) -> Response:
            row = serving.create_inference_service(conn, values)
            return self.one(
                INFERENCE_SERVICE, self.audited(conn, request, INFERENCE_SERVICE, row, created=True), 201
            )

        return await self.database.writing(work)

    async def create_serve(self, request: Request) -> Response:
        service_id = params.path_id(request, "service_id")
        values = codec.decode(await self.body(request), SERVE_MODEL, SERVE_MODEL.create_fields)

        def work(conn: Session) -> Response:
            row = serving.create_serve(conn, service_id, values)
            return self.one(SERVE_MODEL, self.audited(conn, request, SERVE_MODEL, row, created=True), 201)

        return await self.database.writing(work)

    async def inference_service_model(self, request: Request) -> Response:
        id_ = params.path_id(request, "service_id")

        def work(conn: Session) -> Response:
            return self.one(REGISTERED_MODEL, serving.inference_service_model(conn, id_))

        return await self.database.reading(work)

    async def inference_service_version(self, request: Request) -> Response:
        id_ = params.path_id(request, "service_id")

        def work(conn: Session) -> Response:
            return self.one(MODEL_VERSION, serving.inference_service_version(conn, id_))

        return await self.database.reading(work)


def artifact_type_of(body: object) -> str | None:
    if isinstance(body, dict):
        value = body.get("artifactType")
        if value is None or isinstance(value, str):
            return value
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a JSON object")
    raise InvalidArgument("artifactType must be a string")


def body_id(body: object) -> int | None:
    value = body.get("id") if isinstance(body, dict) else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument("json: cannot unmarshal number into field id of type string")
    return codec.parse_id(value)
