"""Pagers: page sizes, creation/update-time ordering, ascending/descending, for models and versions."""

from __future__ import annotations

from _common import Scenario, run
from model_registry.types import RegisteredModel

N_MODELS = 5
N_VERSIONS = 4


def body(s: Scenario) -> None:
    mr = s.connect()
    names = [s.model_name(f"pg{i}") for i in range(N_MODELS)]
    ours = set(names)

    s.step(f"register {N_MODELS} models")
    for name in names:
        mr.register_model(
            name, f"s3://bucket/{name}", version="v1", model_format_name="onnx", model_format_version="1"
        )
        s.tick()

    def listed(pager: object, what: str) -> list[str]:
        """Names of our models in the pager's order; every item (ours or not) must come exactly once."""
        items = list(pager)  # type: ignore[call-overload]
        ids = [m.id for m in items]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        s.check(not dupes, f"{what}: ids listed more than once: {dupes}")
        return [m.name for m in items if m.name in ours]

    s.step("get_registered_models() page sizes")
    for size in (2, 3, N_MODELS, 100):
        got = listed(mr.get_registered_models().page_size(size), f"page_size({size})")
        s.eq(sorted(got), sorted(names), f"page_size({size}) lists each of our models once")
    got = listed(mr.get_registered_models(), "default page size")
    s.eq(sorted(got), sorted(names), "default page size lists each of our models once")

    s.step("order by creation time")
    pager = mr.get_registered_models().order_by_creation_time().page_size(2)
    s.eq(listed(pager, "create asc"), names, "order_by_creation_time() ascending")
    pager = mr.get_registered_models().order_by_creation_time().descending().page_size(2)
    s.eq(listed(pager, "create desc"), names[::-1], "order_by_creation_time().descending()")
    pager = mr.get_registered_models().order_by_creation_time().descending().ascending().page_size(3)
    s.eq(listed(pager, "create asc again"), names, "descending() then ascending()")
    pager = mr.get_registered_models().descending().page_size(2)
    s.eq(listed(pager, "id desc"), names[::-1], "descending() with the default order (by id)")
    pager = mr.get_registered_models().order_by_id().page_size(2)
    s.eq(listed(pager, "id asc"), names, "order_by_id()")

    s.step("order by update time")
    touched = names[1]
    rm = mr.get_registered_model(touched)
    before = int(rm.last_update_time_since_epoch)
    s.tick()
    rm.description = "touched so it sorts last by update time"
    rm = mr.update(rm)
    s.check(int(rm.last_update_time_since_epoch) > before, "update moves last_update_time_since_epoch on")
    expected = [n for n in names if n != touched] + [touched]
    pager = mr.get_registered_models().order_by_update_time().page_size(2)
    s.eq(listed(pager, "update asc"), expected, "order_by_update_time() ascending: touched model last")
    pager = mr.get_registered_models().order_by_update_time().descending().page_size(2)
    s.eq(listed(pager, "update desc"), expected[::-1], "order_by_update_time().descending(): touched first")
    pager = mr.get_registered_models().order_by_creation_time().page_size(2)
    s.eq(listed(pager, "create asc after update"), names, "creation order unaffected by the update")
    # back-to-back updates, no pause: update times must still strictly increase (upstream tests rely on it)
    for n in (names[3], names[0]):
        rm = mr.get_registered_model(n)
        rm.description = "rapid update"
        mr.update(rm)
    expected = [names[2], names[4], names[1], names[3], names[0]]
    pager = mr.get_registered_models().order_by_update_time().page_size(2)
    s.eq(listed(pager, "update asc, rapid"), expected, "order_by_update_time() after rapid updates")

    s.step(f"model versions: {N_VERSIONS} versions of one model")
    model = names[0]
    versions = ["v1"]
    for i in range(2, N_VERSIONS + 1):
        s.tick()
        mr.register_model(
            model,
            f"s3://bucket/{model}/v{i}",
            version=f"v{i}",
            model_format_name="onnx",
            model_format_version="1",
        )
        versions.append(f"v{i}")

    def version_names(pager: object, what: str) -> list[str]:
        items = list(pager)  # type: ignore[call-overload]
        ids = [v.id for v in items]
        s.check(len(set(ids)) == len(ids), f"{what}: a version listed more than once: {ids}")
        return [v.name for v in items]

    s.eq(
        version_names(mr.get_model_versions(model).page_size(1).descending(), "size1 desc"),
        versions[::-1],
        "get_model_versions(name).page_size(1).descending(): newest first",
    )
    s.eq(
        version_names(mr.get_model_versions(model).page_size(1), "size1 asc"),
        versions,
        "get_model_versions(name).page_size(1): oldest first",
    )
    for size in (2, 3, N_VERSIONS, N_VERSIONS + 1):
        s.eq(
            version_names(
                mr.get_model_versions(model).page_size(size).order_by_creation_time(), f"size{size}"
            ),
            versions,
            f"page_size({size}).order_by_creation_time()",
        )
    s.eq(
        version_names(mr.get_model_versions(model).order_by_creation_time().descending(), "create desc"),
        versions[::-1],
        "order_by_creation_time().descending()",
    )
    s.eq(
        version_names(mr.get_model_versions(model).page_size(2).order_by_update_time(), "update asc"),
        versions,
        "order_by_update_time() before any version update",
    )
    mv = mr.get_model_version(model, "v2")
    s.tick()
    mv.description = "touched"
    mr.update(mv)
    expected_versions = [v for v in versions if v != "v2"] + ["v2"]
    s.eq(
        version_names(mr.get_model_versions(model).page_size(2).order_by_update_time(), "update asc 2"),
        expected_versions,
        "order_by_update_time() after updating v2: v2 last",
    )
    s.eq(
        version_names(mr.get_model_versions(names[2]).page_size(1), "other model"),
        ["v1"],
        "versions of another model are not mixed in",
    )

    s.step("a pager over nothing")
    empty_model = s.model_name("pg-empty")
    mr.async_runner(mr._api.upsert_registered_model(RegisteredModel(name=empty_model)))
    s.eq(
        version_names(mr.get_model_versions(empty_model).page_size(2), "empty"),
        [],
        "model without versions -> empty pager",
    )


if __name__ == "__main__":
    run(Scenario("pagers"), body)
