"""The scale and replica benchmarks run end to end on a small registry, so `make bench` cannot rot.

Their figures are not checked (a shared machine's timings are noise at this size); what is checked is
that they measure every scenario they name against real servers, without a failed request, and write it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import replicas, scale
from tests.conftest import _empty_postgres

RESULTS = Path(scale.__file__).with_name("results")


def _newest(prefix: str, before: set[Path]) -> dict[str, object]:
    (written,) = set(RESULTS.glob(f"{prefix}-*.json")) - before
    document: dict[str, object] = json.loads(written.read_text())
    written.unlink()
    return document


def test_the_scale_benchmark_measures_every_scenario() -> None:
    before = set(RESULTS.glob("scale-*.json"))
    assert scale.main(["--versions", "2000", "--duration", "1"]) == 0
    document = _newest("scale", before)
    runs = document["runs"]
    assert isinstance(runs, dict)
    depths = ("page at 0", "page at 10,000", "page at 1,800")
    assert set(runs) == {
        *depths,
        *(f"{d}, filterQuery" for d in depths),
        "GET version by id",
        "find model by name",
    }
    assert all(run["errors"] == 0 and run["requests"] > 0 for run in runs.values())
    assert isinstance(document["create_per_s"], float) and document["create_per_s"] > 0
    assert isinstance(document["rss_mb"], float) and 20 < document["rss_mb"] < 250


@pytest.mark.postgres
def test_the_replica_benchmark_compares_one_replica_with_two(postgres_url: str) -> None:
    _empty_postgres(postgres_url)
    before = set(RESULTS.glob("replicas-*.json"))
    try:
        assert replicas.main(["--versions", "500", "--duration", "1", "--database-url", postgres_url]) == 0
    finally:
        _empty_postgres(postgres_url)
    document = _newest("replicas", before)
    one, two = document["one"], document["two"]
    assert isinstance(one, dict) and isinstance(two, dict)
    assert one["requests"] > 0 and two["requests"] > 0 and one["errors"] == two["errors"] == 0
    assert document["ratio"] == pytest.approx(two["requests_per_s"] / one["requests_per_s"], rel=0.01)
