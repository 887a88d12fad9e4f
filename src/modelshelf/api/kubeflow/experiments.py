"""The experiment operations of the Kubeflow face: experiments, runs, the artifacts logged to runs, and
metric history. Served under /v1alpha3 only: upstream's v1 has none of them, and answers 404."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelshelf.api.kubeflow import codec, params
from modelshelf.api.kubeflow.routes import Handler, KubeflowAPI, artifact_type_of, body_id
from modelshelf.domain.entities import ANY_ARTIFACT, EXPERIMENT, EXPERIMENT_RUN, METRIC_HISTORY
from modelshelf.errors import InvalidArgument
from modelshelf.services import artifacts, experiments, records
from modelshelf.store.repository import Row
from modelshelf.store.session import Session

RUN_OUTPUT_ONLY = ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")


def experiment_routes(api: KubeflowAPI) -> list[BaseRoute]:
    t, i = params.text, params.optional_id
    ex, run = EXPERIMENT, EXPERIMENT_RUN

    def find_experiment(conn: Session, r: Request) -> Row:
        where = records.find_where(t(r, "name"), t(r, "externalId"))
        if not where:
            raise InvalidArgument("invalid parameters call, supply either name or externalId")
        return records.find_one(conn, ex, where)

    def narrowed(r: Request) -> dict[str, object]:
        """name/externalId on a nested list narrow it like a filter, as on the other nested lists."""
        if name := t(r, "name"):
            return {"name": name}
        if external_id := t(r, "externalId"):
            return {"external_id": external_id}
        return {}

    def history(run_param: str | None) -> Handler:
        return api.list_handler(
            METRIC_HISTORY,
            lambda conn, r: experiments.metric_history(
                conn,
                params.path_id(r, run_param) if run_param else None,
                t(r, "name"),
                params.step_ids(r),
                params.list_query(r),
            ),
        )

    return [
        # experiments
        Route("/experiment", api.find_handler(ex, find_experiment), methods=["GET"]),
        Route(
            "/experiments",
            api.list_handler(ex, lambda conn, r: records.list_page(conn, ex, params.list_query(r))),
            methods=["GET"],
        ),
        Route("/experiments", api.create_handler(ex, experiments.create_experiment), methods=["POST"]),
        Route("/experiments/{experiment_id}", api.get_handler(ex, "experiment_id"), methods=["GET"]),
        Route("/experiments/{experiment_id}", api.update_handler(ex, "experiment_id"), methods=["PATCH"]),
        Route(
            "/experiments/{experiment_id}/experiment_runs",
            api.list_handler(
                run,
                lambda conn, r: experiments.list_runs(
                    conn, params.path_id(r, "experiment_id"), params.list_query(r, **narrowed(r))
                ),
            ),
            methods=["GET"],
        ),
        Route(
            "/experiments/{experiment_id}/experiment_runs",
            partial(upsert_run, api),
            methods=["POST"],
        ),
        # experiment runs
        Route(
            "/experiment_run",
            api.find_handler(
                run,
                lambda conn, r: experiments.find_run(
                    conn, t(r, "name"), t(r, "externalId"), i(r, "parentResourceId")
                ),
            ),
            methods=["GET"],
        ),
        Route(
            "/experiment_runs",
            api.list_handler(run, lambda conn, r: experiments.list_runs(conn, None, params.list_query(r))),
            methods=["GET"],
        ),
        Route("/experiment_runs", api.create_handler(run, experiments.create_run), methods=["POST"]),
        Route("/experiment_runs/metric_history", history(None), methods=["GET"]),
        Route("/experiment_runs/{run_id}", api.get_handler(run, "run_id"), methods=["GET"]),
        Route(
            "/experiment_runs/{run_id}",
            api.update_handler(run, "run_id", experiments.update_run),
            methods=["PATCH"],
        ),
        Route(
            "/experiment_runs/{run_id}/artifacts",
            api.list_handler(
                ANY_ARTIFACT,
                lambda conn, r: experiments.list_run_artifacts(
                    conn,
                    params.path_id(r, "run_id"),
                    params.artifact_type(r),
                    params.list_query(r, **narrowed(r)),
                ),
            ),
            methods=["GET"],
        ),
        Route("/experiment_runs/{run_id}/artifacts", partial(log_artifact, api), methods=["POST"]),
        Route("/experiment_runs/{run_id}/metric_history", history("run_id"), methods=["GET"]),
    ]


async def upsert_run(api: KubeflowAPI, request: Request) -> Response:
    """POST /experiments/{id}/experiment_runs: a full `ExperimentRun` body; one with an id updates it."""
    experiment_id = params.path_id(request, "experiment_id")
    body = await api.body(request)
    id_ = body_id(body)
    run = EXPERIMENT_RUN
    # A run's experimentId is its own field, not the output-only one artifacts carry.
    values = codec.decode(body, run, run.create_fields | run.update_fields, RUN_OUTPUT_ONLY)
    if values.get("experiment_id", experiment_id) != experiment_id:
        raise InvalidArgument(
            f"experimentId {values['experiment_id']} in the body differs from {experiment_id} in the path"
        )

    def work(conn: Session) -> Response:
        row = experiments.upsert_run(conn, experiment_id, id_, values)
        api.audited(conn, request, run, row, created=id_ is None)
        return api.one(run, row, 201 if id_ is None else 200)

    return await api.database.writing(work)


async def log_artifact(api: KubeflowAPI, request: Request) -> Response:
    """POST /experiment_runs/{id}/artifacts: a full `Artifact` body, created or updated in the run."""
    run_id = params.path_id(request, "run_id")
    body = await api.body(request)
    entity = artifacts.entity_for(artifact_type_of(body))
    id_ = body_id(body)
    values = codec.decode(body, entity, entity.create_fields | entity.update_fields, api.output_only)

    def work(conn: Session) -> Response:
        row, created = experiments.log_artifact(conn, run_id, entity, id_, values)
        api.audited(conn, request, entity, row, created=created, detail={"experimentRunId": str(run_id)})
        return api.one(entity, row, 201 if created else 200)

    return await api.database.writing(work)
