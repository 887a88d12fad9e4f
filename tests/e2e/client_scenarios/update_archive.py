"""update() of registered model, model version and model artifact; archive and restore."""

from __future__ import annotations

from _common import Scenario, run
from model_registry.types import ArtifactState, ModelVersionState, RegisteredModelState


def body(s: Scenario) -> None:
    mr = s.connect(author="e2e-author")
    name = s.model_name("upd")
    for version in ("v1", "v2"):
        mr.register_model(
            name,
            f"s3://bucket/{name}/{version}",
            version=version,
            model_format_name="onnx",
            model_format_version="1",
            storage_key="conn",
            storage_path=f"{name}/{version}",
            owner="first-owner",
            metadata={"stage": "dev", "score": 0.5},
        )

    s.step("registered model: description, owner, custom_properties")
    rm = mr.get_registered_model(name)
    created, updated_before = rm.create_time_since_epoch, int(rm.last_update_time_since_epoch)
    s.eq(rm.owner, "first-owner", "owner before the update")
    s.tick()
    rm.description = "a described model"
    rm.owner = "second-owner"
    rm.custom_properties = {"team": "ml", "replicas": 2, "public": False, "weight": 1.25, "note": ""}
    returned = mr.update(rm)
    for got, what in ((returned, "update() result"), (mr.get_registered_model(name), "fresh get")):
        s.eq(got.id, rm.id, f"{what}: id")
        s.eq(got.name, name, f"{what}: name unchanged")
        s.eq(got.description, "a described model", f"{what}: description")
        s.eq(got.owner, "second-owner", f"{what}: owner")
        s.same_typed(got.custom_properties, rm.custom_properties, f"{what}: custom_properties")
        s.eq(got.create_time_since_epoch, created, f"{what}: create time unchanged")
        s.check(int(got.last_update_time_since_epoch) > updated_before, f"{what}: last update time moved on")
    rm = mr.get_registered_model(name)
    rm.custom_properties = {"team": "platform"}
    mr.update(rm)
    s.same_typed(
        mr.get_registered_model(name).custom_properties,
        {"team": "platform"},
        "custom_properties are replaced, not merged",
    )
    s.eq(mr.get_registered_model(name).description, "a described model", "description kept by a later update")

    s.step("model version: description, author, custom_properties")
    mv = mr.get_model_version(name, "v1")
    s.tick()
    mv.description = "v1, described"
    mv.author = "carol"
    mv.custom_properties = {"stage": "prod", "score": 0.97, "epochs": 12, "approved": True}
    returned = mr.update(mv)
    for got, what in ((returned, "update() result"), (mr.get_model_version(name, "v1"), "fresh get")):
        s.eq(got.id, mv.id, f"{what}: id")
        s.eq(got.name, "v1", f"{what}: name")
        s.eq(got.description, "v1, described", f"{what}: description")
        s.eq(got.author, "carol", f"{what}: author")
        s.eq(got.registered_model_id, rm.id, f"{what}: registered_model_id kept")
        s.same_typed(got.custom_properties, mv.custom_properties, f"{what}: custom_properties")
    v2 = mr.get_model_version(name, "v2")
    s.eq(v2.description, None, "v2 untouched: description")
    s.same_typed(v2.custom_properties, {"stage": "dev", "score": 0.5}, "v2 untouched: custom_properties")

    s.step("model artifact: description, uri, model_format_name")
    ma = mr.get_model_artifact(name, "v1")
    ma.description = "the v1 weights"
    ma.uri = "s3://bucket/moved/v1.onnx"
    ma.model_format_name = "onnx-ml"
    ma.custom_properties = {"checksum": "sha256:abc", "size": 1234}
    returned = mr.update(ma)
    for got, what in ((returned, "update() result"), (mr.get_model_artifact(name, "v1"), "fresh get")):
        s.eq(got.id, ma.id, f"{what}: id")
        s.eq(got.name, name, f"{what}: name")
        s.eq(got.description, "the v1 weights", f"{what}: description")
        s.eq(got.uri, "s3://bucket/moved/v1.onnx", f"{what}: uri")
        s.eq(got.model_format_name, "onnx-ml", f"{what}: model_format_name")
        s.eq(got.model_format_version, "1", f"{what}: model_format_version kept")
        s.eq(got.storage_key, "conn", f"{what}: storage_key kept")
        s.eq(got.storage_path, f"{name}/v1", f"{what}: storage_path kept")
        s.same_typed(got.custom_properties, ma.custom_properties, f"{what}: custom_properties")
    s.eq(mr.get_model_artifact(name, "v2").uri, f"s3://bucket/{name}/v2", "v2 artifact untouched")
    ma = mr.get_model_artifact(name, "v1")
    ma.state = ArtifactState.LIVE
    s.eq(mr.update(ma).state, ArtifactState.LIVE, "artifact state update result")
    s.eq(mr.get_model_artifact(name, "v1").state, ArtifactState.LIVE, "artifact state on a fresh get")

    s.step("archive the version, then the model")
    mv = mr.get_model_version(name, "v1")
    mv.state = ModelVersionState.ARCHIVED
    s.eq(mr.update(mv).state, ModelVersionState.ARCHIVED, "archive v1: update() result")
    s.eq(mr.get_model_version(name, "v1").state, ModelVersionState.ARCHIVED, "v1 archived on a fresh get")
    s.eq(mr.get_model_version(name, "v2").state, ModelVersionState.LIVE, "v2 stays LIVE")
    s.eq(mr.get_model_version(name, "v1").description, "v1, described", "archiving keeps the description")
    rm = mr.get_registered_model(name)
    s.eq(rm.state, RegisteredModelState.LIVE, "model still LIVE with one archived version")
    rm.state = RegisteredModelState.ARCHIVED
    s.eq(mr.update(rm).state, RegisteredModelState.ARCHIVED, "archive model: update() result")
    s.eq(mr.get_registered_model(name).state, RegisteredModelState.ARCHIVED, "model archived on a fresh get")
    s.eq(mr.get_model_version(name, "v2").state, ModelVersionState.LIVE, "v2 stays LIVE (no cascade)")
    s.eq(mr.get_model_version(name, "v1").state, ModelVersionState.ARCHIVED, "v1 stays ARCHIVED")
    states = {v.name: v.state for v in mr.get_model_versions(name)}
    s.eq(states, {"v1": ModelVersionState.ARCHIVED, "v2": ModelVersionState.LIVE}, "version states in a list")
    listed = {m.name: m.state for m in mr.get_registered_models().page_size(50) if m.name == name}
    s.eq(listed, {name: RegisteredModelState.ARCHIVED}, "archived model still listed, with its state")

    s.step("register_model under an archived model")
    returned = mr.register_model(
        name, f"s3://bucket/{name}/v3", version="v3", model_format_name="onnx", model_format_version="1"
    )
    s.eq(returned.id, rm.id, "v3 is registered on the archived model")
    s.eq(returned.state, RegisteredModelState.ARCHIVED, "the model stays ARCHIVED")
    v3 = mr.get_model_version(name, "v3")
    s.check(v3 is not None, "v3 is found")
    s.eq(v3.state, ModelVersionState.LIVE, "v3 is LIVE")
    s.eq(mr.get_model_artifact(name, "v3").uri, f"s3://bucket/{name}/v3", "v3 artifact")
    s.eq(sorted(v.name for v in mr.get_model_versions(name)), ["v1", "v2", "v3"], "three versions")

    s.step("restore")
    rm = mr.get_registered_model(name)
    rm.state = RegisteredModelState.LIVE
    s.eq(mr.update(rm).state, RegisteredModelState.LIVE, "restore model: update() result")
    mv = mr.get_model_version(name, "v1")
    mv.state = ModelVersionState.LIVE
    s.eq(mr.update(mv).state, ModelVersionState.LIVE, "restore v1: update() result")
    s.eq(mr.get_registered_model(name).state, RegisteredModelState.LIVE, "model LIVE on a fresh get")
    states = {v.name: v.state for v in mr.get_model_versions(name)}
    s.eq(states, dict.fromkeys(("v1", "v2", "v3"), ModelVersionState.LIVE), "all versions LIVE")
    rm = mr.get_registered_model(name)
    s.eq((rm.description, rm.owner), ("a described model", "second-owner"), "restore keeps model fields")
    s.same_typed(rm.custom_properties, {"team": "platform"}, "restore keeps model custom_properties")


if __name__ == "__main__":
    run(Scenario("update_archive"), body)
