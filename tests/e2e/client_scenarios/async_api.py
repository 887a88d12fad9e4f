"""The lower-level async API (`mr._api`, a ModelRegistryAPIClient): get_artifacts with filterQuery,
filters on custom properties, get_model_version_artifacts, lookups by id."""

from __future__ import annotations

import inspect
from typing import Any

from _common import Scenario, run
from model_registry.types import ListOptions, ModelArtifact


def body(s: Scenario) -> None:
    mr = s.connect()
    api = mr._api
    a, b = s.model_name("fa"), s.model_name("fb")
    uris = {
        (a, "v1"): f"s3://bucket/{a}/v1",
        (a, "v2"): f"s3://bucket/{a}/v2",
        (b, "v1"): f"s3://bucket/{b}/v1",
    }
    version_props = {
        (a, "v1"): {"stage": "prod", "score": 0.9, "epochs": 10, "approved": True},
        (a, "v2"): {"stage": "dev", "score": 0.4, "epochs": 30, "approved": False},
        (b, "v1"): {"stage": "prod", "score": 0.6, "epochs": 20, "approved": True},
    }
    for (model, version), uri in uris.items():
        mr.register_model(
            model,
            uri,
            version=version,
            model_format_name="onnx",
            model_format_version="1",
            metadata=version_props[(model, version)],
        )

    def artifacts(filter_query: str, artifact_type: str | None = "model-artifact") -> list[Any]:
        return list(
            mr.async_runner(api.get_artifacts(filter_query=filter_query, artifact_type=artifact_type))
        )

    def uris_of(items: list[Any]) -> list[str]:
        return sorted(x.uri for x in items)

    s.step("get_artifacts: filter on name")
    found = artifacts(f"name = '{a}'")
    s.check(all(isinstance(x, ModelArtifact) for x in found), f"model artifacts come back typed: {found}")
    s.eq(uris_of(found), [uris[(a, "v1")], uris[(a, "v2")]], f"name = '{a}'")
    s.eq(uris_of(artifacts(f'name = "{b}"')), [uris[(b, "v1")]], "double-quoted string")
    s.eq(
        uris_of(artifacts(f"name = '{a}'", artifact_type=None)),
        [uris[(a, "v1")], uris[(a, "v2")]],
        "no artifactType filter",
    )
    s.eq(uris_of(artifacts(f"name LIKE '{s.prefix}-f%'")), sorted(uris.values()), "LIKE on the prefix")
    s.eq(uris_of(artifacts(f"name IN ('{a}', '{b}')")), sorted(uris.values()), "IN list")
    s.eq(uris_of(artifacts(f"name = '{a}' OR name = '{b}'")), sorted(uris.values()), "OR")
    s.eq(artifacts(f"name = '{s.model_name('nothing')}'"), [], "no match -> empty list")
    s.eq(artifacts(f"name = '{a}'", artifact_type="doc-artifact"), [], "artifactType=doc-artifact excludes")
    s.eq(uris_of(artifacts(f"uri = '{uris[(b, 'v1')]}'")), [uris[(b, "v1")]], "filter on uri")

    s.step("filter on custom properties")
    # Artifact-level custom properties (register_model puts metadata on the version, not the artifact).
    art_props = {
        (a, "v1"): {"quant": "int8", "size_mb": 12.5, "shards": 2, "signed": True},
        (a, "v2"): {"quant": "fp16", "size_mb": 40.0, "shards": 4, "signed": False},
        (b, "v1"): {"quant": "int8", "size_mb": 7.25, "shards": 1, "signed": False},
    }
    for (model, version), props in art_props.items():
        ma = mr.get_model_artifact(model, version)
        ma.custom_properties = props
        s.same_typed(mr.update(ma).custom_properties, props, f"artifact {model}/{version} custom props")
    ours = f"name LIKE '{s.prefix}-f%'"
    s.eq(uris_of(artifacts(f"{ours} AND quant = 'int8'")), [uris[(a, "v1")], uris[(b, "v1")]], "string prop")
    s.eq(
        uris_of(artifacts(f"{ours} AND quant.string_value = 'fp16'")), [uris[(a, "v2")]], "typed string prop"
    )
    s.eq(uris_of(artifacts(f"{ours} AND size_mb > 10")), [uris[(a, "v1")], uris[(a, "v2")]], "double prop >")
    s.eq(
        uris_of(artifacts(f"{ours} AND size_mb.double_value <= 12.5")),
        [uris[(a, "v1")], uris[(b, "v1")]],
        "typed double prop <=",
    )
    s.eq(uris_of(artifacts(f"{ours} AND shards >= 2")), [uris[(a, "v1")], uris[(a, "v2")]], "int prop >=")
    s.eq(uris_of(artifacts(f"{ours} AND shards.int_value = 1")), [uris[(b, "v1")]], "typed int prop")
    s.eq(uris_of(artifacts(f"{ours} AND signed = true")), [uris[(a, "v1")]], "bool prop")
    s.eq(
        uris_of(artifacts(f"{ours} AND signed.bool_value = false")),
        [uris[(a, "v2")], uris[(b, "v1")]],
        "typed bool prop",
    )
    s.eq(
        uris_of(artifacts(f"{ours} AND (quant = 'fp16' OR shards = 1)")),
        [uris[(a, "v2")], uris[(b, "v1")]],
        "parenthesised OR",
    )
    s.eq(artifacts(f"{ours} AND quant = 'int4'"), [], "no artifact has that value")

    s.step("filter model versions on a custom property")
    params = inspect.signature(api.get_model_versions).parameters
    if "filter_query" in params:  # not in 0.3.14 / 0.3.18, maybe in a later client
        rm = mr.get_registered_model(a)
        got = mr.async_runner(api.get_model_versions(rm.id, filter_query="stage = 'prod'"))
        s.eq(sorted(v.name for v in got), ["v1"], "_api.get_model_versions(filter_query=stage = 'prod')")
    else:
        s.step("  _api.get_model_versions takes no filter_query: using the generated mr_openapi client")

    async def versions_filtered(rm_id: str, query: str) -> list[str]:
        async with api.get_client() as client:
            page = await client.get_registered_model_versions(rm_id, filter_query=query)
        return sorted(v.name for v in page.items or [])

    rm_a, rm_b = mr.get_registered_model(a), mr.get_registered_model(b)
    s.eq(mr.async_runner(versions_filtered(rm_a.id, "stage = 'prod'")), ["v1"], "A versions: stage = 'prod'")
    s.eq(mr.async_runner(versions_filtered(rm_a.id, "score < 0.5")), ["v2"], "A versions: score < 0.5")
    s.eq(
        mr.async_runner(versions_filtered(rm_a.id, "epochs.int_value >= 10")), ["v1", "v2"], "A: epochs >= 10"
    )
    s.eq(mr.async_runner(versions_filtered(rm_a.id, "approved = true")), ["v1"], "A versions: approved")
    s.eq(mr.async_runner(versions_filtered(rm_b.id, "stage = 'prod'")), ["v1"], "B versions: stage = 'prod'")
    s.eq(mr.async_runner(versions_filtered(rm_b.id, "stage = 'dev'")), [], "B versions: stage = 'dev'")

    s.step("get_model_version_artifacts / lookups by id")
    mv = mr.get_model_version(a, "v2")
    listed = mr.async_runner(api.get_model_version_artifacts(mv.id))
    s.eq(len(listed), 1, f"one artifact on {a}/v2: {listed}")
    s.check(isinstance(listed[0], ModelArtifact), f"it is a ModelArtifact: {type(listed[0]).__name__}")
    s.eq(listed[0].uri, uris[(a, "v2")], "its uri")
    s.eq(listed[0].name, a, "its name")
    s.same_typed(listed[0].custom_properties, art_props[(a, "v2")], "its custom properties")
    options = ListOptions(limit=1)
    paged = mr.async_runner(api.get_model_version_artifacts(mv.id, options))
    s.eq([x.id for x in paged], [listed[0].id], "get_model_version_artifacts with ListOptions(limit=1)")

    s.eq(mr.async_runner(api.get_registered_model_by_id(rm_a.id)).name, a, "get_registered_model_by_id")
    s.eq(mr.async_runner(api.get_model_version_by_id(mv.id)).name, "v2", "get_model_version_by_id")
    s.eq(
        mr.async_runner(api.get_model_artifact_by_id(listed[0].id)).uri,
        uris[(a, "v2")],
        "get_model_artifact_by_id",
    )
    by_params = mr.async_runner(api.get_model_artifact_by_params(a, mv.id))
    s.eq(by_params.id, listed[0].id, "get_model_artifact_by_params(name, version id)")
    s.eq(mr.async_runner(api.get_registered_model_by_id("999999999")), None, "missing model id -> None")
    versions = mr.async_runner(api.get_model_versions(rm_a.id, ListOptions(limit=10)))
    s.eq(sorted(v.name for v in versions), ["v1", "v2"], "_api.get_model_versions(rm id)")
    all_mas = mr.async_runner(api.get_model_artifacts(mv.id))
    s.eq([x.id for x in all_mas], [listed[0].id], "_api.get_model_artifacts(version id)")


if __name__ == "__main__":
    run(Scenario("async_api"), body)
