"""The Kubeflow face's route table: which handler of `KubeflowAPI` serves each method and path (the
experiment operations, v1alpha3 only, are in `experiments.py`).

Most operations are one of the generic handlers (get, create, update, list, find) bound to an entity and a
service call; the few with their own shape are methods of `KubeflowAPI`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelshelf.api.kubeflow import params
from modelshelf.api.kubeflow.experiments import experiment_routes
from modelshelf.api.kubeflow.routes import Handler, KubeflowAPI
from modelshelf.domain.entities import (
    ANY_ARTIFACT,
    INFERENCE_SERVICE,
    MODEL_ARTIFACT,
    MODEL_VERSION,
    REGISTERED_MODEL,
    SERVE_MODEL,
    SERVING_ENVIRONMENT,
    Entity,
)
from modelshelf.errors import InvalidArgument
from modelshelf.services import artifacts, models, records, serving
from modelshelf.store.repository import Row
from modelshelf.store.session import Session


def routes(api: KubeflowAPI) -> list[BaseRoute]:
    """Every operation of the face, each with the handler that serves it."""
    t, i = params.text, params.optional_id

    def find_top(entity: Entity) -> Handler:
        def fetch(conn: Session, r: Request) -> Row:
            where = records.find_where(t(r, "name"), t(r, "externalId"))
            if not where:
                raise InvalidArgument("invalid parameters call, supply either name or externalId")
            return records.find_one(conn, entity, where)

        return api.find_handler(entity, fetch)

    def find_child(
        entity: Entity, find: Callable[[Session, str | None, str | None, int | None], Row]
    ) -> Handler:
        """GET /<entity>?name=|externalId=[&parentResourceId=]: the lookups scoped by a parent."""
        return api.find_handler(
            entity, lambda conn, r: find(conn, t(r, "name"), t(r, "externalId"), i(r, "parentResourceId"))
        )

    def list_all(entity: Entity) -> Handler:
        return api.list_handler(entity, lambda conn, r: records.list_page(conn, entity, params.list_query(r)))

    def nested(r: Request) -> dict[str, Any]:
        """name/externalId on a nested list narrow it like a filter (name wins when both are given)."""
        if name := t(r, "name"):
            return {"name": name}
        if external_id := t(r, "externalId"):
            return {"external_id": external_id}
        return {}

    rm, mv, se, svc = REGISTERED_MODEL, MODEL_VERSION, SERVING_ENVIRONMENT, INFERENCE_SERVICE
    return [
        # registered models
        Route("/registered_model", find_top(rm), methods=["GET"]),
        Route("/registered_models", list_all(rm), methods=["GET"]),
        Route(
            "/registered_models",
            api.create_handler(rm, models.create_registered_model),
            methods=["POST"],
        ),
        Route("/registered_models/{model_id}", api.get_handler(rm, "model_id"), methods=["GET"]),
        Route("/registered_models/{model_id}", api.update_handler(rm, "model_id"), methods=["PATCH"]),
        Route(
            "/registered_models/{model_id}/versions",
            api.list_handler(
                mv,
                lambda conn, r: models.list_model_versions(
                    conn, params.path_id(r, "model_id"), params.list_query(r, **nested(r))
                ),
            ),
            methods=["GET"],
        ),
        Route("/registered_models/{model_id}/versions", api.upsert_model_version, methods=["POST"]),
        # model versions
        Route("/model_version", find_child(mv, models.find_model_version), methods=["GET"]),
        Route(
            "/model_versions",
            api.list_handler(
                mv, lambda conn, r: models.list_model_versions(conn, None, params.list_query(r))
            ),
            methods=["GET"],
        ),
        Route("/model_versions", api.create_handler(mv, models.create_model_version), methods=["POST"]),
        Route("/model_versions/{version_id}", api.get_handler(mv, "version_id"), methods=["GET"]),
        Route("/model_versions/{version_id}", api.update_handler(mv, "version_id"), methods=["PATCH"]),
        Route(
            "/model_versions/{version_id}/artifacts",
            api.list_handler(
                ANY_ARTIFACT,
                lambda conn, r: artifacts.list_artifacts(
                    conn,
                    params.artifact_type(r),
                    params.list_query(r, **nested(r)),
                    params.path_id(r, "version_id"),
                ),
            ),
            methods=["GET"],
        ),
        Route("/model_versions/{version_id}/artifacts", api.upsert_version_artifact, methods=["POST"]),
        # artifacts of any type
        Route(
            "/artifact",
            find_child(ANY_ARTIFACT, lambda conn, *key: artifacts.find(conn, ANY_ARTIFACT, *key)),
            methods=["GET"],
        ),
        Route(
            "/artifacts",
            api.list_handler(
                ANY_ARTIFACT,
                lambda conn, r: artifacts.list_artifacts(conn, params.artifact_type(r), params.list_query(r)),
            ),
            methods=["GET"],
        ),
        Route("/artifacts", api.create_artifact, methods=["POST"]),
        Route("/artifacts/{id}", api.get_artifact, methods=["GET"]),
        Route("/artifacts/{id}", api.update_artifact, methods=["PATCH"]),
        # model artifacts
        Route(
            "/model_artifact",
            find_child(MODEL_ARTIFACT, lambda conn, *key: artifacts.find(conn, MODEL_ARTIFACT, *key)),
            methods=["GET"],
        ),
        Route("/model_artifacts", list_all(MODEL_ARTIFACT), methods=["GET"]),
        Route("/model_artifacts", api.create_model_artifact, methods=["POST"]),
        Route(
            "/model_artifacts/{artifact_id}",
            api.get_handler(MODEL_ARTIFACT, "artifact_id"),
            methods=["GET"],
        ),
        Route(
            "/model_artifacts/{artifact_id}",
            api.update_handler(
                MODEL_ARTIFACT,
                "artifact_id",
                lambda conn, id_, v: artifacts.update_model_artifact(conn, id_, v),
            ),
            methods=["PATCH"],
        ),
        # serving environments
        Route("/serving_environment", find_top(se), methods=["GET"]),
        Route("/serving_environments", list_all(se), methods=["GET"]),
        Route(
            "/serving_environments",
            api.create_handler(se, lambda conn, v: records.create(conn, se, v)),
            methods=["POST"],
        ),
        Route(
            "/serving_environments/{environment_id}",
            api.get_handler(se, "environment_id"),
            methods=["GET"],
        ),
        Route(
            "/serving_environments/{environment_id}",
            api.update_handler(se, "environment_id"),
            methods=["PATCH"],
        ),
        Route(
            "/serving_environments/{environment_id}/inference_services",
            api.list_handler(
                svc,
                lambda conn, r: serving.list_inference_services(
                    conn, params.path_id(r, "environment_id"), params.list_query(r, **nested(r))
                ),
            ),
            methods=["GET"],
        ),
        Route(
            "/serving_environments/{environment_id}/inference_services",
            api.create_environment_service,
            methods=["POST"],
        ),
        # inference services
        Route("/inference_service", find_child(svc, serving.find_inference_service), methods=["GET"]),
        Route(
            "/inference_services",
            api.list_handler(
                svc, lambda conn, r: serving.list_inference_services(conn, None, params.list_query(r))
            ),
            methods=["GET"],
        ),
        Route(
            "/inference_services",
            api.create_handler(svc, serving.create_inference_service),
            methods=["POST"],
        ),
        Route("/inference_services/{service_id}", api.get_handler(svc, "service_id"), methods=["GET"]),
        Route(
            "/inference_services/{service_id}",
            api.update_handler(svc, "service_id", serving.update_inference_service),
            methods=["PATCH"],
        ),
        Route("/inference_services/{service_id}/model", api.inference_service_model, methods=["GET"]),
        Route("/inference_services/{service_id}/version", api.inference_service_version, methods=["GET"]),
        Route(
            "/inference_services/{service_id}/serves",
            api.list_handler(
                SERVE_MODEL,
                lambda conn, r: serving.list_serves(
                    conn, params.path_id(r, "service_id"), params.list_query(r, **nested(r))
                ),
            ),
            methods=["GET"],
        ),
        Route("/inference_services/{service_id}/serves", api.create_serve, methods=["POST"]),
        # experiments, their runs and metric history: v1alpha3 only (upstream's v1 has none)
        *(experiment_routes(api) if api.version == "v1alpha3" else []),
    ]
