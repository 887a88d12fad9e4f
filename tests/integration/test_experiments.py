"""Experiments, experiment runs, artifacts logged to runs and metric history: v1alpha3 only."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, V1ALPHA3, error, ok, props

A = V1ALPHA3


def experiment(client: TestClient, name: str = "exp", **fields: Any) -> dict[str, Any]:
    return ok(client.post(f"{A}/experiments", json={"name": name, **fields}), 201)  # type: ignore[no-any-return]


def run(client: TestClient, experiment_id: str, name: str | None = "r1", **fields: Any) -> dict[str, Any]:
    body = {"experimentId": experiment_id, **({"name": name} if name else {}), **fields}
    return ok(client.post(f"{A}/experiment_runs", json=body), 201)  # type: ignore[no-any-return]


def log(client: TestClient, run_id: str, status: int = 201, **fields: Any) -> dict[str, Any]:
    return ok(client.post(f"{A}/experiment_runs/{run_id}/artifacts", json=fields), status)  # type: ignore[no-any-return]


def metric(client: TestClient, run_id: str, name: str, value: float, step: int, status: int = 201) -> Any:
    body = {
        "artifactType": "metric",
        "name": name,
        "value": value,
        "step": step,
        "timestamp": "1700000000000",
    }
    return log(client, run_id, status, **body)


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


# --- experiments ---------------------------------------------------------------------------------------


def test_experiment_create_get_find_update(client: TestClient) -> None:
    ex = experiment(client, "exp", owner="ann", description="d", customProperties=props(team="ml"))
    assert ex["state"] == "LIVE" and ex["owner"] == "ann" and ex["createTimeSinceEpoch"].isdigit()
    assert ok(client.get(f"{A}/experiments/{ex['id']}")) == ex
    assert ok(client.get(f"{A}/experiment", params={"name": "exp"})) == ex
    updated = ok(client.patch(f"{A}/experiments/{ex['id']}", json={"state": "ARCHIVED"}))
    assert updated["state"] == "ARCHIVED" and updated["owner"] == "ann"
    assert int(updated["lastUpdateTimeSinceEpoch"]) > int(ex["lastUpdateTimeSinceEpoch"])
    assert updated["customProperties"] == props(team="ml")


def test_experiment_errors(client: TestClient) -> None:
    experiment(client, "exp", externalId="x1")
    error(client.post(f"{A}/experiments", json={"name": "exp"}), 409, "exp")
    error(client.post(f"{A}/experiments", json={"name": "other", "externalId": "x1"}), 409, "x1")
    body = error(client.post(f"{A}/experiments", json={"owner": "ann"}), 422)
    assert body == {"code": "Bad Request", "message": "required field 'name' is zero value."}
    error(client.post(f"{A}/experiments", json={"name": "e", "state": "GONE"}), 400, "state")
    error(client.patch(f"{A}/experiments/1", json={"name": "renamed"}), 400, "name")
    error(client.get(f"{A}/experiments/999"), 404, "999")
    error(client.get(f"{A}/experiment", params={"name": "nobody"}), 404)
    error(client.get(f"{A}/experiment"), 400)


def test_experiment_list_filter_order_and_pages(client: TestClient) -> None:
    for i in range(5):
        experiment(client, f"e{i}", customProperties=props(rank=i))
    page = ok(client.get(f"{A}/experiments", params={"pageSize": "2", "orderBy": "ID", "sortOrder": "DESC"}))
    assert names(page) == ["e4", "e3"] and page["size"] == 2 and page["pageSize"] == 2
    seen = names(page)
    while page["nextPageToken"]:
        params = {
            "pageSize": "2",
            "orderBy": "ID",
            "sortOrder": "DESC",
            "nextPageToken": page["nextPageToken"],
        }
        page = ok(client.get(f"{A}/experiments", params=params))
        seen += names(page)
    assert seen == ["e4", "e3", "e2", "e1", "e0"]
    filtered = ok(client.get(f"{A}/experiments", params={"filterQuery": "rank >= 3 AND name != 'e4'"}))
    assert names(filtered) == ["e3"]
    error(client.get(f"{A}/experiments", params={"filterQuery": "rank >>= 3"}), 400)


# --- runs ----------------------------------------------------------------------------------------------


def test_run_create_get_find_update(client: TestClient) -> None:
    ex = experiment(client)
    r = run(client, ex["id"], "r1", owner="ann", startTimeSinceEpoch="1000")
    assert r["experimentId"] == ex["id"] and r["status"] == "RUNNING" and r["state"] == "LIVE"
    assert r["startTimeSinceEpoch"] == "1000"
    assert ok(client.get(f"{A}/experiment_runs/{r['id']}")) == r
    found = ok(client.get(f"{A}/experiment_run", params={"name": "r1", "parentResourceId": ex["id"]}))
    assert found == r
    done = ok(
        client.patch(
            f"{A}/experiment_runs/{r['id']}", json={"status": "FINISHED", "endTimeSinceEpoch": "2000"}
        )
    )
    assert done["status"] == "FINISHED" and done["endTimeSinceEpoch"] == "2000" and done["owner"] == "ann"
    error(client.patch(f"{A}/experiment_runs/{r['id']}", json={"endTimeSinceEpoch": "999"}), 400, "before")
    error(client.patch(f"{A}/experiment_runs/{r['id']}", json={"experimentId": ex["id"]}), 400)
    unnamed = run(client, ex["id"], None)
    assert len(unnamed["name"]) == 36  # a generated UUID, as upstream


def test_run_parents_and_conflicts(client: TestClient) -> None:
    a, b = experiment(client, "a"), experiment(client, "b")
    run(client, a["id"], "r")
    run(client, b["id"], "r")  # names are unique per experiment only
    error(client.post(f"{A}/experiment_runs", json={"name": "r", "experimentId": a["id"]}), 409, "r")
    error(client.post(f"{A}/experiment_runs", json={"name": "r", "experimentId": "777"}), 404, "777")
    error(client.post(f"{A}/experiment_runs", json={"name": "r"}), 422, "experimentId")
    error(client.get(f"{A}/experiment_run", params={"name": "r"}), 400, "parentResourceId")
    error(client.get(f"{A}/experiments/777/experiment_runs"), 404, "777")
    error(client.get(f"{A}/experiment_runs/777"), 404)
    error(client.post(f"{A}/experiments/777/experiment_runs", json={"name": "r"}), 404, "777")
    body = {"name": "late", "experimentId": a["id"], "startTimeSinceEpoch": "5", "endTimeSinceEpoch": "4"}
    error(client.post(f"{A}/experiment_runs", json=body), 400, "before")


def test_nested_run_create_and_upsert(client: TestClient) -> None:
    ex, other = experiment(client, "a"), experiment(client, "b")
    url = f"{A}/experiments/{ex['id']}/experiment_runs"
    created = ok(client.post(url, json={"name": "r1", "experimentId": ex["id"]}), 201)
    assert created["experimentId"] == ex["id"]
    error(client.post(url, json={"name": "r2", "experimentId": other["id"]}), 400)
    updated = ok(client.post(url, json={**created, "description": "now described"}), 200)
    assert updated["id"] == created["id"] and updated["description"] == "now described"
    foreign = run(client, other["id"], "x")
    error(client.post(url, json={"id": foreign["id"], "description": "d"}), 400)


def test_run_lists_by_experiment_filter_and_pages(client: TestClient) -> None:
    a, b = experiment(client, "a"), experiment(client, "b")
    for i in range(4):
        run(client, a["id"], f"a{i}", customProperties=props(lr=0.1 * i))
    run(client, b["id"], "b0")
    assert names(ok(client.get(f"{A}/experiment_runs"))) == ["a0", "a1", "a2", "a3", "b0"]
    url = f"{A}/experiments/{a['id']}/experiment_runs"
    first = ok(client.get(url, params={"pageSize": "3", "orderBy": "CREATE_TIME"}))
    assert names(first) == ["a0", "a1", "a2"] and first["nextPageToken"]
    rest = ok(
        client.get(
            url, params={"pageSize": "3", "orderBy": "CREATE_TIME", "nextPageToken": first["nextPageToken"]}
        )
    )
    assert names(rest) == ["a3"] and rest["nextPageToken"] == ""
    assert names(ok(client.get(url, params={"filterQuery": "lr > 0.15"}))) == ["a2", "a3"]
    assert names(ok(client.get(url, params={"name": "a1"}))) == ["a1"]
    by_status = ok(
        client.get(f"{A}/experiment_runs", params={"filterQuery": "status = 'RUNNING' AND name = 'b0'"})
    )
    assert names(by_status) == ["b0"]


# --- artifacts logged to runs --------------------------------------------------------------------------


def test_artifacts_logged_to_a_run(client: TestClient) -> None:
    ex = experiment(client)
    r = run(client, ex["id"])
    param = log(client, r["id"], artifactType="parameter", name="lr", value="0.01", parameterType="number")
    assert param["experimentId"] == ex["id"] and param["experimentRunId"] == r["id"]
    dataset = log(client, r["id"], artifactType="dataset-artifact", name="train", uri="s3://b/train.csv")
    assert dataset["experimentRunId"] == r["id"]
    # a parameter logged again under its name is updated, not duplicated
    again = log(
        client, r["id"], 200, artifactType="parameter", name="lr", value="0.02", parameterType="number"
    )
    assert again["id"] == param["id"] and again["value"] == "0.02"
    listed = ok(client.get(f"{A}/experiment_runs/{r['id']}/artifacts"))
    assert [(i["artifactType"], i["name"]) for i in listed["items"]] == [
        ("parameter", "lr"),
        ("dataset-artifact", "train"),
    ]
    only = ok(
        client.get(f"{A}/experiment_runs/{r['id']}/artifacts", params={"artifactType": "dataset-artifact"})
    )
    assert names(only) == ["train"]
    paged = ok(client.get(f"{A}/experiment_runs/{r['id']}/artifacts", params={"pageSize": "1"}))
    assert names(paged) == ["lr"] and paged["nextPageToken"]
    # the artifact is one of the registry's artifacts: v1alpha3 shows its run, v1 has no such fields
    assert ok(client.get(f"{A}/artifacts/{param['id']}"))["experimentRunId"] == r["id"]
    plain = ok(client.get(f"{V1}/artifacts/{param['id']}"))
    assert "experimentRunId" not in plain and "experimentId" not in plain and plain["value"] == "0.02"
    # a model artifact logged to a run is 201 and linked; a duplicate name of one type is a conflict
    log(client, r["id"], artifactType="model-artifact", name="m", uri="s3://b/m")
    error(
        client.post(
            f"{A}/experiment_runs/{r['id']}/artifacts", json={"artifactType": "model-artifact", "name": "m"}
        ),
        409,
        "m",
    )


def test_run_artifact_errors(client: TestClient) -> None:
    ex = experiment(client)
    r = run(client, ex["id"])
    error(
        client.post(
            f"{A}/experiment_runs/777/artifacts", json={"artifactType": "metric", "name": "x", "value": 1}
        ),
        404,
        "777",
    )
    error(client.post(f"{A}/experiment_runs/{r['id']}/artifacts", json={"name": "x"}), 400, "artifactType")
    error(
        client.post(f"{A}/experiment_runs/{r['id']}/artifacts", json={"artifactType": "metric", "name": "x"}),
        400,
        "value",
    )
    error(client.get(f"{A}/experiment_runs/777/artifacts"), 404, "777")
    error(client.get(f"{A}/experiment_runs/{r['id']}/artifacts", params={"artifactType": "bogus"}), 400)
    # nothing was stored by the refused writes
    assert ok(client.get(f"{A}/experiment_runs/{r['id']}/artifacts"))["items"] == []
    assert ok(client.get(f"{A}/experiment_runs/metric_history"))["items"] == []


# --- metric history --------------------------------------------------------------------------------------


def test_metric_history_keeps_every_logged_value(client: TestClient) -> None:
    ex = experiment(client)
    r1, r2 = run(client, ex["id"], "r1"), run(client, ex["id"], "r2")
    first = metric(client, r1["id"], "train_loss", 0.9, 0)
    for step, value in ((1, 0.5), (2, 0.3)):
        latest = metric(client, r1["id"], "train_loss", value, step, 200)
    metric(client, r1["id"], "val_loss", 0.6, 2)
    metric(client, r1["id"], "accuracy", 0.8, 2)
    metric(client, r2["id"], "train_loss", 0.7, 1)
    # the run's metric artifact holds the latest value
    assert latest["id"] == first["id"] and latest["value"] == 0.3 and latest["step"] == 2
    run_metrics = ok(
        client.get(f"{A}/experiment_runs/{r1['id']}/artifacts", params={"artifactType": "metric"})
    )
    assert [(i["name"], i["value"]) for i in run_metrics["items"]] == [
        ("train_loss", 0.3),
        ("val_loss", 0.6),
        ("accuracy", 0.8),
    ]
    # the history has one entry per logged value, as a Metric
    url = f"{A}/experiment_runs/{r1['id']}/metric_history"
    history = ok(client.get(url))
    assert [(i["name"], i["value"], i["step"]) for i in history["items"]] == [
        ("train_loss", 0.9, 0),
        ("train_loss", 0.5, 1),
        ("train_loss", 0.3, 2),
        ("val_loss", 0.6, 2),
        ("accuracy", 0.8, 2),
    ]
    item = history["items"][0]
    assert item["artifactType"] == "metric" and item["experimentRunId"] == r1["id"]
    assert item["experimentId"] == ex["id"] and item["timestamp"] == "1700000000000"
    # name is a substring match; stepIds a list of steps; both combine, with filterQuery too
    assert names(ok(client.get(url, params={"name": "loss"}))) == ["train_loss"] * 3 + ["val_loss"]
    assert [i["step"] for i in ok(client.get(url, params={"stepIds": "0,2"}))["items"]] == [0, 2, 2, 2]
    both = ok(client.get(url, params={"name": "train", "stepIds": "1,2"}))
    assert [(i["name"], i["step"]) for i in both["items"]] == [("train_loss", 1), ("train_loss", 2)]
    assert names(ok(client.get(url, params={"filterQuery": "value < 0.55"}))) == ["train_loss", "train_loss"]
    assert ok(client.get(url, params={"name": "%"}))["items"] == []  # a substring, not a LIKE pattern
    # pages, newest first
    page = ok(client.get(url, params={"pageSize": "2", "sortOrder": "DESC"}))
    assert names(page) == ["accuracy", "val_loss"] and page["nextPageToken"]
    page = ok(
        client.get(url, params={"pageSize": "2", "sortOrder": "DESC", "nextPageToken": page["nextPageToken"]})
    )
    assert [i["value"] for i in page["items"]] == [0.3, 0.5]
    # the global history covers every run
    everything = ok(
        client.get(f"{A}/experiment_runs/metric_history", params={"name": "train_loss", "stepIds": "1"})
    )
    assert [(i["experimentRunId"], i["value"]) for i in everything["items"]] == [
        (r1["id"], 0.5),
        (r2["id"], 0.7),
    ]


@pytest.mark.parametrize("step_ids", ["a", "1,", ",1", "1,,2", "-1", "1234567890"])
def test_bad_step_ids_are_400(client: TestClient, step_ids: str) -> None:
    ex = experiment(client)
    r = run(client, ex["id"])
    error(
        client.get(f"{A}/experiment_runs/{r['id']}/metric_history", params={"stepIds": step_ids}),
        400,
        "stepIds",
    )
    error(client.get(f"{A}/experiment_runs/metric_history", params={"stepIds": step_ids}), 400, "stepIds")


def test_metric_history_of_a_missing_run_is_404(client: TestClient) -> None:
    error(client.get(f"{A}/experiment_runs/777/metric_history"), 404, "777")


# --- v1 has none of it -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/experiments"),
        ("POST", "/experiments"),
        ("GET", "/experiments/1"),
        ("PATCH", "/experiments/1"),
        ("GET", "/experiment"),
        ("GET", "/experiments/1/experiment_runs"),
        ("POST", "/experiments/1/experiment_runs"),
        ("GET", "/experiment_runs"),
        ("POST", "/experiment_runs"),
        ("GET", "/experiment_run"),
        ("GET", "/experiment_runs/1"),
        ("PATCH", "/experiment_runs/1"),
        ("GET", "/experiment_runs/1/artifacts"),
        ("POST", "/experiment_runs/1/artifacts"),
        ("GET", "/experiment_runs/1/metric_history"),
        ("GET", "/experiment_runs/metric_history"),
    ],
)
def test_v1_does_not_have_the_experiment_routes(client: TestClient, method: str, path: str) -> None:
    ex = experiment(client, "e")
    run(client, ex["id"])
    response = client.request(method, f"{V1}{path}", json={"name": "x"} if method != "GET" else None)
    error(response, 404)
