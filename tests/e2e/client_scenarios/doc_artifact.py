"""upsert_model_version_artifact with a DocArtifact: created, listed with the version's artifacts, updated."""

from __future__ import annotations

from _common import Scenario, run
from model_registry.types import ArtifactState, DocArtifact, ModelArtifact


def body(s: Scenario) -> None:
    mr = s.connect()
    api = mr._api
    name = s.model_name("doc")
    mr.register_model(
        name, f"s3://bucket/{name}/v1", version="v1", model_format_name="onnx", model_format_version="1"
    )
    mr.register_model(
        name, f"s3://bucket/{name}/v2", version="v2", model_format_name="onnx", model_format_version="1"
    )
    mv = mr.get_model_version(name, "v1")
    model_artifact = mr.get_model_artifact(name, "v1")

    s.step("upsert a DocArtifact into v1")
    doc_name = s.model_name("doc-readme")
    props = {"lang": "en", "pages": 3, "reviewed": True, "score": 4.5, "empty": ""}
    doc = DocArtifact(
        name=doc_name,
        uri="https://example.com/docs/README.md",
        description="model card",
        custom_properties=props,
    )
    created = mr.async_runner(api.upsert_model_version_artifact(doc, mv.id))
    s.check(isinstance(created, DocArtifact), f"the result is a DocArtifact: {type(created).__name__}")
    s.check(created.id, "the doc artifact has an id")
    s.check(created.id != model_artifact.id, "a new artifact, not the model artifact")
    s.eq(created.name, doc_name, "doc name")
    s.eq(created.uri, "https://example.com/docs/README.md", "doc uri")
    s.eq(created.description, "model card", "doc description")
    s.eq(created.state, ArtifactState.UNKNOWN, "doc state defaults to UNKNOWN")
    s.same_typed(created.custom_properties, props, "doc custom_properties")
    s.check(created.create_time_since_epoch, "doc create time")

    s.step("it shows up among the version's artifacts")
    listed = mr.async_runner(api.get_model_version_artifacts(mv.id))
    by_id = {x.id: x for x in listed}
    s.eq(
        sorted(by_id), sorted([created.id, model_artifact.id]), "v1 artifacts: the model artifact and the doc"
    )
    s.check(
        isinstance(by_id[created.id], DocArtifact), f"listed doc type: {type(by_id[created.id]).__name__}"
    )
    s.check(isinstance(by_id[model_artifact.id], ModelArtifact), "listed model artifact type")
    s.eq(by_id[created.id], created, "listed doc == the upsert result (all fields)")
    s.eq(by_id[model_artifact.id], model_artifact, "listed model artifact == get_model_artifact (all fields)")
    s.same_typed(by_id[created.id].custom_properties, props, "listed doc custom_properties")
    v2 = mr.get_model_version(name, "v2")
    s.eq(
        [type(x).__name__ for x in mr.async_runner(api.get_model_version_artifacts(v2.id))],
        ["ModelArtifact"],
        "v2 does not see v1's doc",
    )
    s.eq(mr.get_model_artifact(name, "v1").id, model_artifact.id, "get_model_artifact still finds the model")

    s.step("get_artifacts by type")
    docs = mr.async_runner(
        api.get_artifacts(filter_query=f"name = '{doc_name}'", artifact_type="doc-artifact")
    )
    s.eq([x.id for x in docs], [created.id], "get_artifacts(artifact_type=doc-artifact)")
    models = mr.async_runner(
        api.get_artifacts(filter_query=f"name = '{doc_name}'", artifact_type="model-artifact")
    )
    s.eq(models, [], "the doc is not a model-artifact")

    s.step("upsert again with its id: an update")
    created.description = "model card, revised"
    created.uri = "https://example.com/docs/README-v2.md"
    created.state = ArtifactState.LIVE
    updated = mr.async_runner(api.upsert_model_version_artifact(created, mv.id))
    s.eq(updated.id, created.id, "same id after the upsert")
    s.eq(updated.description, "model card, revised", "updated description")
    s.eq(updated.uri, "https://example.com/docs/README-v2.md", "updated uri")
    s.eq(updated.state, ArtifactState.LIVE, "updated state")
    listed = mr.async_runner(api.get_model_version_artifacts(mv.id))
    s.eq(len(listed), 2, f"still two artifacts on v1: {listed}")
    again = {x.id: x for x in listed}[created.id]
    s.eq(
        (again.description, again.uri),
        ("model card, revised", "https://example.com/docs/README-v2.md"),
        "the update is visible in the list",
    )

    s.step("a second doc on the same version")
    second = mr.async_runner(
        api.upsert_model_version_artifact(
            DocArtifact(name=s.model_name("doc-license"), uri="https://example.com/LICENSE"), mv.id
        )
    )
    s.check(second.id not in (created.id, model_artifact.id), "second doc is a new artifact")
    listed = mr.async_runner(api.get_model_version_artifacts(mv.id))
    s.eq(len(listed), 3, "three artifacts on v1")
    s.eq(sorted(type(x).__name__ for x in listed), ["DocArtifact", "DocArtifact", "ModelArtifact"], "types")


if __name__ == "__main__":
    run(Scenario("doc_artifact"), body)
