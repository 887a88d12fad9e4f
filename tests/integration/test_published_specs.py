"""Conformance to the published Kubeflow Model Registry specs, not to the document we serve.

test_schemathesis.py checks the app against its own /openapi.json, which adds the responses this server
really gives. Here schemathesis reads upstream's `model-registry-v1.yaml` and `model-registry-v1alpha3.yaml`
as published and drives `/api/model_registry/v1` and `/v1alpha3` with them: every operation on its own
(valid and invalid requests), then stateful sequences of valid requests that follow links from one
response into the next request. The specs' own links only lead from an entity to itself (get, patch,
find); the parent -> child ones are added here (CHILD_LINKS), so the chains model -> version -> artifact,
environment -> inference service -> serve and experiment -> run -> artifact are walked.

No response may be a 5xx or contradict the spec. Where the spec contradicts upstream's own Go server, it
is corrected below, narrowly and with the reason (an undocumented status on named operations, the
ambiguous `Artifact` oneOf); docs/compatibility.md lists each correction. No check is turned off.
"""

from __future__ import annotations

import os
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.stateful import collect_transitions
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from modelshelf.app import create_app
from modelshelf.settings import Settings
from tests.integration.kf import V1, V1ALPHA3
from tests.integration.test_schemathesis import CHECKS, MAX_EXAMPLES, _auth, _negative_cases, _seed

# The specs as upstream publishes them. The package carries them verbatim (the served document is built
# from them), so the tests run wherever the package is; where the reference copies are at hand, the first
# test checks that the package's are still byte for byte the published ones.
BUNDLED = {V1: "v1.yaml", V1ALPHA3: "v1alpha3.yaml"}
SPECS = {V1: "model-registry-v1.yaml", V1ALPHA3: "model-registry-v1alpha3.yaml"}
REFERENCE = Path(os.environ.get("MODELSHELF_KUBEFLOW_REFERENCE", "/work/shared/reference/kubeflow"))
# Stateful runs are sequences of up to STATEFUL_STEPS requests; each example is one sequence.
STATEFUL_EXAMPLES = int(os.environ.get("MODELSHELF_SCHEMATHESIS_STATEFUL_EXAMPLES", "25"))
STATEFUL_STEPS = 10

# Where the published specs say what upstream's Go server does not do, the spec is corrected here, as
# little as the truth needs, and docs/compatibility.md lists each correction ("The published specs").
# Everything else is checked against the specs as published.

# Operations that answer 400 (a malformed id, a find without its required parameters, a bad filterQuery,
# pageSize or nextPageToken) where the spec documents no 400. Go answers 400 for each of these too
# (reference/kubeflow/SEMANTICS.md section 7); the other operations of the same specs document it.
UNDOCUMENTED_400 = {
    V1: [
        "/inference_services/{inference_service_id}",
        "/inference_services/{inference_service_id}/model",
        "/inference_services/{inference_service_id}/version",
        "/model_artifacts/{model_artifact_id}",
        "/model_versions/{model_version_id}",
        "/registered_model",
        "/registered_models/{registered_model_id}",
        "/serving_environment",
        "/serving_environments/{serving_environment_id}",
    ],
    V1ALPHA3: [
        "/experiment",
        "/experiment_runs",
        "/experiment_runs/metric_history",
        "/experiment_runs/{experimentrunId}",
        "/experiment_runs/{experimentrunId}/artifacts",
        "/experiment_runs/{experimentrunId}/metric_history",
        "/experiments",
        "/experiments/{experimentId}",
        "/experiments/{experimentId}/experiment_runs",
        "/inference_services/{inferenceserviceId}",
        "/inference_services/{inferenceserviceId}/model",
        "/inference_services/{inferenceserviceId}/serves",
        "/inference_services/{inferenceserviceId}/version",
        "/model_artifacts/{modelartifactId}",
        "/model_versions",
        "/model_versions/{modelversionId}",
        "/model_versions/{modelversionId}/artifacts",
        "/registered_model",
        "/registered_models",
        "/registered_models/{registeredmodelId}",
        "/registered_models/{registeredmodelId}/versions",
        "/serving_environment",
        "/serving_environments",
        "/serving_environments/{servingenvironmentId}",
        "/serving_environments/{servingenvironmentId}/inference_services",
    ],
}

# Creates whose body names a parent that does not exist answer 404, which these specs document only on
# the nested creates. Go answers 404 too for a missing serving environment or experiment
# (SEMANTICS.md section 3); for a missing registered model it stores an orphan version, which we refuse
# with the same 404 (docs/compatibility.md).
UNDOCUMENTED_404 = {
    V1: ["/model_versions", "/inference_services"],
    V1ALPHA3: ["/model_versions", "/inference_services", "/experiment_runs"],
}

# Creates that answer 422 when a required field is missing or empty (`name`, `servingEnvironmentId`, ...),
# as Go does for all of them (SEMANTICS.md section 7); the specs document it on two creates only.
UNDOCUMENTED_422 = [
    "createRegisteredModel",
    "createRegisteredModelVersion",
    "createServingEnvironment",
    "createInferenceService",
    "createEnvironmentInferenceService",
    "createInferenceServiceServe",
    "createExperiment",  # v1alpha3 only, as the next one
    "createExperimentExperimentRun",
]

# Parent -> child links for the stateful run, which the specs do not have (their links only lead from an
# entity to itself): the response that carries a parent's `id` -> the operations under that parent.
CHILD_LINKS = {
    "RegisteredModelResponse": ["createRegisteredModelVersion", "getRegisteredModelVersions"],
    "ModelVersionResponse": ["upsertModelVersionArtifact", "getModelVersionArtifacts"],
    "ServingEnvironmentResponse": ["createEnvironmentInferenceService", "getEnvironmentInferenceServices"],
    "InferenceServiceResponse": ["createInferenceServiceServe", "getInferenceServiceServes"],
    "ExperimentResponse": ["createExperimentExperimentRun", "getExperimentExperimentRuns"],
    "ExperimentRunResponse": [
        "upsertExperimentRunArtifact",
        "getExperimentRunArtifacts",
        "getExperimentRunMetricHistory",
    ],
}


def _text(prefix: str) -> str:
    return (
        resources.files("modelshelf.api.kubeflow").joinpath(f"openapi/{BUNDLED[prefix]}").read_text("utf-8")
    )


def _load(prefix: str) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(_text(prefix))
    return spec


def _corrected(prefix: str) -> dict[str, Any]:
    spec = _load(prefix)
    for path in UNDOCUMENTED_400[prefix]:
        responses = spec["paths"][prefix + path]["get"]["responses"]
        assert "400" not in responses, f"the spec now documents 400 on GET {path}: drop the correction"
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    for item in spec["paths"].values():
        post = item.get("post", {})
        if post.get("operationId") in UNDOCUMENTED_422:
            assert "422" not in post["responses"], f"the spec now documents 422 on {post['operationId']}"
            post["responses"]["422"] = {"$ref": "#/components/responses/UnprocessableEntity"}
        # A PATCH to an `externalId` another entity has is 409 in Go too (a unique key, SEMANTICS.md
        # section 2); the specs document 409 on creates only.
        if "patch" in item:
            responses = item["patch"]["responses"]
            assert "409" not in responses, "the spec now documents 409 on a PATCH: drop the correction"
            responses["409"] = {"$ref": "#/components/responses/Conflict"}
    for path in UNDOCUMENTED_404[prefix]:
        responses = spec["paths"][prefix + path]["post"]["responses"]
        assert "404" not in responses, f"the spec now documents 404 on POST {path}: drop the correction"
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    if prefix == V1ALPHA3:
        # The v1alpha3 spec says 200 for createInferenceService; Go answers 201, as v1's spec says and as
        # every other create does.
        responses = spec["paths"][prefix + "/inference_services"]["post"]["responses"]
        responses["201"] = responses.pop("200")
    _pin_discriminated_branches(spec["components"]["schemas"])
    _add_child_links(spec)
    return spec


def _add_child_links(spec: dict[str, Any]) -> None:
    """Each parent's `id` into the one path parameter of the operations under it (named differently in
    each spec: `registered_model_id` in v1, `registeredmodelId` in v1alpha3)."""
    parameter = {
        operation["operationId"]: re.search(r"\{(\w+)\}", path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "patch")
    }
    responses = spec["components"]["responses"]
    for response, targets in CHILD_LINKS.items():
        if response not in responses:
            continue  # v1 has no experiments
        links = responses[response].setdefault("links", {})
        for target in targets:
            found = parameter[target]
            assert found is not None, target
            links[f"Child{target[0].upper()}{target[1:]}"] = {
                "operationId": target,
                "parameters": {found[1]: "$response.body#/id"},
            }


def _pin_discriminated_branches(schemas: dict[str, Any]) -> None:
    """Say in JSON Schema what each `oneOf` discriminator mapping says in OpenAPI.

    The `Artifact` oneOf's branches give `artifactType` only a default, so a JSON Schema validator (which
    ignores `discriminator`) finds a model artifact valid as a doc artifact, dataset, metric and parameter
    too, and rejects every artifact: no response could pass. Each branch gets its one mapped value as an
    enum; nothing else about the branches changes.
    """
    for schema in schemas.values():
        discriminator = schema.get("discriminator") if "oneOf" in schema else None
        if discriminator is None:
            continue
        field = discriminator["propertyName"]
        for value, ref in discriminator["mapping"].items():
            name = ref.removeprefix("#/components/schemas/")
            pin = {"properties": {field: {"enum": [value]}}}
            branch = schemas[name]
            schemas[name] = (
                {**branch, "allOf": [*branch["allOf"], pin]}
                if "allOf" in branch
                else {"allOf": [branch, pin]}
            )


def _operations(prefix: str) -> list[tuple[str, str, str]]:
    return [
        (prefix, method.upper(), path)
        for path, item in _load(prefix)["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


@cache
def _published(prefix: str) -> schemathesis.BaseSchema:
    """The published spec, corrected as above, loaded once (parsing is the slow part); each test points it
    at its own app."""
    schema = schemathesis.openapi.from_dict(_corrected(prefix))
    # The specs name `https://localhost:8080` as their server; in-process requests go to the app itself.
    schema.config.base_url = "http://localhost"
    return schema


OPERATIONS = [op for prefix in SPECS for op in _operations(prefix)]


# The Kubeflow face's tables, children first; accounts and tokens stay.
KUBEFLOW_TABLES = [
    "metric_history",
    "experiment_run_artifact",
    "model_version_artifact",
    "serve_model",
    "inference_service",
    "experiment_run",
    "model_version",
    "custom_property",
    "artifact",
    "experiment",
    "serving_environment",
    "registered_model",
]


def _reset_kubeflow(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(KUBEFLOW_TABLES)} RESTART IDENTITY"))
        else:
            for name in KUBEFLOW_TABLES:  # without AUTOINCREMENT, ids start at 1 again in an empty table
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def app(settings: Settings, engine: Engine, admin_token: str) -> Starlette:
    app = create_app(settings, engine)
    with TestClient(app, headers=_auth(admin_token)) as client:
        _seed(client)
    app.state.test_headers = _auth(admin_token)
    return app


@pytest.mark.parametrize("prefix", list(SPECS))
def test_the_bundled_spec_is_the_published_one(prefix: str) -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"no reference copies of the published specs in {REFERENCE}")
    assert _text(prefix) == (REFERENCE / SPECS[prefix]).read_text(encoding="utf-8")


def test_the_published_specs_are_complete() -> None:
    assert len([op for op in OPERATIONS if op[0] == V1]) == 40
    assert len([op for op in OPERATIONS if op[0] == V1ALPHA3]) == 56


@pytest.mark.parametrize("prefix", list(SPECS))
def test_the_stateful_run_follows_parent_child_links(prefix: str) -> None:
    """Creating a parent leads on to creating and listing its children: model -> version -> artifact,
    environment -> inference service -> serve, experiment -> run -> artifact and metric history."""
    schema = _published(prefix)
    schema.as_state_machine()  # adds the links schemathesis infers to those of the spec
    transitions = collect_transitions([result.ok() for result in schema.get_all_operations()])
    edges = {
        (source, link.target.label)
        for source, entry in transitions.operations.items()
        for link in entry.outgoing
    }
    label = {
        operation["operationId"]: f"{method.upper()} {path}"
        for path, item in schema.raw_schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "patch")
    }
    creates = {
        "RegisteredModelResponse": "/registered_models",
        "ModelVersionResponse": "/model_versions",
        "ServingEnvironmentResponse": "/serving_environments",
        "InferenceServiceResponse": "/inference_services",
        "ExperimentResponse": "/experiments",
        "ExperimentRunResponse": "/experiment_runs",
    }
    wanted = {
        (f"POST {prefix}{creates[response]}", label[target])
        for response, targets in CHILD_LINKS.items()
        if response in schema.raw_schema["components"]["responses"]
        for target in targets
    }
    assert len(wanted) == (8 if prefix == V1 else 13)
    assert wanted <= edges, wanted - edges


@pytest.mark.parametrize(("prefix", "method", "path"), OPERATIONS, ids=[f"{m} {p}" for _, m, p in OPERATIONS])
def test_operation_conforms_to_the_published_spec(
    app: Starlette, prefix: str, method: str, path: str
) -> None:
    schema = _published(prefix)
    schema.app = app
    operation = schema[path][method]
    operation.app = app
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE), _negative_cases(operation)
    )
    token = app.state.test_headers["Authorization"]

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
        derandomize=True,
    )
    @given(case=cases)
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS, headers=app.state.test_headers)
        if response.request.headers.get("Authorization") == token:
            assert response.status_code != 401, ("the test's own token was refused", case, response.text)

    check()


@pytest.mark.parametrize("prefix", list(SPECS))
def test_stateful_run_conforms_to_the_published_spec(app: Starlette, prefix: str) -> None:
    schema = _published(prefix)
    schema.app = app
    for result in schema.get_all_operations():
        result.ok().app = app
    # Valid requests only: the per-operation tests send the invalid ones, and a sequence of rejected
    # requests creates nothing for the links to lead from.
    schema.config.phases.stateful.generation.modes = [GenerationMode.POSITIVE]
    headers = app.state.test_headers
    token = headers["Authorization"]

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every sequence starts from the seeded database, so a sequence replays alike (Hypothesis
            # insists on that when it shrinks a failure) and no sequence fails for an earlier one's sake.
            _reset_kubeflow(app.state.engine)
            with TestClient(app, headers=headers) as client:
                _seed(client)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)
            # A refused token would mean this step reached another test's database (see served_operation).
            if response.request.headers.get("Authorization") == token:
                assert response.status_code != 401, ("the test's own token was refused", case, response.text)

    Machine.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
    )
