"""register_model with several versions and metadata of every type; get_* return what was stored."""

from __future__ import annotations

from typing import Any

from _common import Scenario, run
from model_registry.exceptions import StoreError
from model_registry.types import ArtifactState, ModelVersionState, RegisteredModelState

VERSIONS: list[dict[str, Any]] = [
    {
        "version": "v1",
        "uri": "s3://bucket/models/v1/model.onnx",
        "model_format_name": "onnx",
        "model_format_version": "1.17",
        "storage_key": "aws-connection-models",
        "storage_path": "models/v1/model.onnx",
        "service_account_name": "sa-reader",
        "model_source_kind": "kfp",
        "model_source_class": "pipelinerun",
        "model_source_group": "team-ns",
        "model_source_id": "run-123",
        "model_source_name": "train-pipeline",
        "author": "alice",
        "owner": "ml-team",
        "version_description": "first version",
        "metadata": {
            "accuracy": 0.91,
            "loss": -1.5,
            "ratio": 0.0,
            "epochs": 10,
            "negative": -3,
            "zero": 0,
            "big": 999_999_999,
            "most_negative": -999_999_999,
            "whole_float": 2.0,
            "tiny": 1e-7,
            "huge": 1.5e20,
            "framework": "pytorch",
            "label": "",
            "unicode": "modèle ✓",
            "quotes": 'it\'s "quoted" \\ back',
            "multiline": "line 1\nline 2",
            "mlflow.source.type": "notebook",
            "custom-key with spaces": "x",
            "validated": True,
            "flagged": False,
        },
    },
    {
        "version": "v2",
        "uri": "oci://registry.example.com/team/model:v2",
        "model_format_name": "tensorflow",
        "model_format_version": "2",
        "version_description": "second version",
        "metadata": {"accuracy": 0.95, "epochs": 20},
    },
    {
        "version": "v3",
        "uri": "https://huggingface.co/org/model/resolve/main/model.safetensors",
        "model_format_name": "safetensors",
        "model_format_version": "0.4",
        "author": "bob",
    },
]

ARTIFACT_FIELDS = (
    "model_format_name",
    "model_format_version",
    "storage_key",
    "storage_path",
    "service_account_name",
    "model_source_kind",
    "model_source_class",
    "model_source_group",
    "model_source_id",
    "model_source_name",
)


def body(s: Scenario) -> None:
    mr = s.connect(author="e2e-author")
    name = s.model_name("reg")

    s.step("register 3 versions")
    rm_ids = set()
    for spec in VERSIONS:
        kwargs = {k: v for k, v in spec.items() if k != "uri"}
        rm = mr.register_model(name, spec["uri"], **kwargs)
        s.eq(rm.name, name, "register_model returns the registered model")
        s.check(rm.id, "registered model has an id")
        rm_ids.add(rm.id)
        if spec is VERSIONS[0]:
            s.eq(mr.get_registered_model(name), rm, "register_model result == a fresh get (all fields)")
        s.tick()
    s.eq(len(rm_ids), 1, "all versions land on one registered model")
    (rm_id,) = rm_ids

    s.step("get_registered_model")
    rm = mr.get_registered_model(name)
    s.check(rm is not None, "get_registered_model finds the model")
    s.eq(rm.id, rm_id, "registered model id")
    s.eq(rm.name, name, "registered model name")
    s.eq(rm.owner, "ml-team", "owner (from the first register_model call)")
    s.eq(rm.state, RegisteredModelState.LIVE, "registered model state")
    s.check(rm.create_time_since_epoch and rm.last_update_time_since_epoch, "registered model timestamps")

    s.step("get_model_version / get_model_artifact for each version")
    for spec in VERSIONS:
        mv = mr.get_model_version(name, spec["version"])
        what = f"version {spec['version']}"
        s.check(mv is not None, f"{what} is found")
        s.eq(mv.name, spec["version"], f"{what} name")
        s.eq(mv.registered_model_id, rm_id, f"{what} registered_model_id")
        s.eq(mv.author, spec.get("author", "e2e-author"), f"{what} author (defaults to the client's)")
        s.eq(mv.description, spec.get("version_description"), f"{what} description")
        s.eq(mv.state, ModelVersionState.LIVE, f"{what} state")
        s.same_typed(mv.custom_properties or {}, spec.get("metadata", {}), f"{what} custom_properties")

        ma = mr.get_model_artifact(name, spec["version"])
        s.check(ma is not None, f"{what} artifact is found")
        s.check(ma.id, f"{what} artifact id")
        s.eq(ma.name, name, f"{what} artifact name (the model's name)")
        s.eq(ma.uri, spec["uri"], f"{what} artifact uri")
        s.eq(ma.state, ArtifactState.UNKNOWN, f"{what} artifact state (client sends UNKNOWN)")
        for field in ARTIFACT_FIELDS:
            s.eq(getattr(ma, field), spec.get(field), f"{what} artifact {field}")

    s.step("missing things")
    s.eq(mr.get_registered_model(s.model_name("does-not-exist")), None, "missing model -> None")
    s.eq(mr.get_registered_model(name[:-1] + "_"), None, "'_' in a looked-up name is no wildcard")
    s.eq(mr.get_registered_model(name[:-2] + "%"), None, "'%' in a looked-up name is no wildcard")
    s.eq(mr.get_model_version(name, "v_"), None, "'_' in a looked-up version name is no wildcard")
    s.eq(mr.get_model_version(name, "v404"), None, "missing version -> None")
    s.raises(StoreError, lambda: mr.get_model_version(s.model_name("nope"), "v1"), "version of missing model")
    s.raises(StoreError, lambda: mr.get_model_artifact(name, "v404"), "artifact of missing version")

    s.step("duplicate version")
    exc = s.raises(
        StoreError,
        lambda: mr.register_model(
            name, "s3://bucket/dup", version="v2", model_format_name="onnx", model_format_version="1"
        ),
        "register_model with an existing version",
    )
    s.check("already exists" in str(exc), f"duplicate error message mentions it: {exc}")
    versions = [v.name for v in mr.get_model_versions(name).order_by_creation_time()]
    s.eq(versions, ["v1", "v2", "v3"], "versions after the rejected duplicate")
    s.eq(mr.get_model_artifact(name, "v2").uri, VERSIONS[1]["uri"], "v2 artifact untouched by the duplicate")

    s.step("a version name with a colon")
    mr.register_model(
        name, "s3://bucket/rc", version="v4:rc1", model_format_name="onnx", model_format_version="1"
    )
    s.eq(mr.get_model_version(name, "v4:rc1").name, "v4:rc1", "version name with ':' round-trips")
    s.eq(mr.get_model_artifact(name, "v4:rc1").uri, "s3://bucket/rc", "its artifact")
    s.eq(mr.get_model_version(name, "rc1"), None, "only the full name finds it")

    s.step("same version name under another model is fine")
    other = s.model_name("reg-other")
    other_rm = mr.register_model(
        other, "s3://bucket/other", version="v1", model_format_name="onnx", model_format_version="1"
    )
    s.check(other_rm.id != rm_id, "another model gets another id")
    s.eq(mr.get_model_artifact(other, "v1").uri, "s3://bucket/other", "other model's v1 artifact")
    s.eq(mr.get_model_artifact(name, "v1").uri, VERSIONS[0]["uri"], "first model's v1 artifact unchanged")
    s.eq(mr.get_model_version(other, "v1").custom_properties or {}, {}, "no metadata -> no custom properties")


if __name__ == "__main__":
    run(Scenario("register_model"), body)
