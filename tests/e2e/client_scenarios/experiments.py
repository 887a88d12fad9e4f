"""The experiment workflow of model-registry 0.3.14 (v1alpha3): start a run, log parameters, metrics with
steps and a dataset, list the experiment's runs and a run's logs, read the metric history."""

from __future__ import annotations

from typing import Any

from _common import Scenario, run
from model_registry.types.artifacts import DataSet, Metric, Parameter


def history(mr: Any, run_id: str | None, **query: Any) -> list[tuple[str, float, int]]:
    """(name, value, step) of the metric history of one run, or of every run, through the client's API."""

    async def fetch() -> Any:
        async with mr._api.get_client() as client:
            if run_id is None:
                return await client.get_experiment_runs_metric_history(**query)
            return await client.get_experiment_run_metric_history(run_id, **query)

    page = mr.async_runner(fetch())
    return [(m.name, m.value, m.step) for m in page.items]


def body(s: Scenario) -> None:
    mr = s.connect()
    experiment_name = s.model_name("experiment")

    s.step("start a run in a new experiment and log parameters, metrics and a dataset")
    with mr.start_experiment_run(experiment_name=experiment_name, owner="ann") as active:
        active.log_param("learning_rate", 0.01)
        active.log_param("optimizer", "adam")
        active.log_metric("loss", 0.9, step=0, timestamp="1700000000000")  # type: ignore[arg-type]
        active.log_metric("accuracy", 0.71, step=0)
        active.log_dataset(
            name="train",
            uri="s3://bucket/train.csv",
            source_type="s3",
            source="s3://bucket",
            schema='{"columns": 3}',  # type: ignore[arg-type]
            description="training split",
        )
    info = active.info
    s.check(info.id and info.experiment_id, f"the run and its experiment have ids: {info}")
    logged = {
        type(log).__name__: log
        for log in (
            active.get_log("params", "optimizer"),
            active.get_log("metrics", "loss"),
            active.get_log("datasets", "train"),
        )
    }
    s.check(
        all(log.id for log in logged.values()), f"every log came back from the server with an id: {logged}"
    )
    s.eq(logged["Metric"].experiment_run_id, info.id, "the metric records its run")
    s.eq(logged["DataSet"].experiment_id, info.experiment_id, "the dataset records its experiment")

    s.step("log later steps of the metric to the same run")
    for step, value in ((1, 0.5), (2, 0.3)):
        metric = Metric(name="loss", value=value, step=step, timestamp=str(1700000000000 + step))
        mr.async_runner(mr._api.upsert_experiment_run_artifact(info.id, metric))

    s.step("a second run in the same experiment")
    with mr.start_experiment_run(experiment_name=experiment_name) as second:
        second.log_metric("loss", 0.8, step=1)
    s.eq(second.info.experiment_id, info.experiment_id, "the second run is in the same experiment")

    s.step("list the experiment's runs")
    runs = list(mr.get_experiment_runs(experiment_name=experiment_name))
    s.eq([r.id for r in runs], [info.id, second.info.id], "both runs, in creation order")
    s.eq({r.experiment_id for r in runs}, {info.experiment_id}, "runs name their experiment")
    s.eq(mr.get_experiment_run(info.id).name, info.name, "get_experiment_run by id")
    experiments = [e for e in mr.get_experiments() if e.name == experiment_name]
    s.eq(len(experiments), 1, "the experiment is listed once")
    s.eq(experiments[0].owner, "ann", "the experiment's owner")

    s.step("list the run's logs")
    logs = list(mr.get_experiment_run_logs(run_id=info.id))
    by_name = {(type(log).__name__, log.name): log for log in logs}
    s.eq(
        sorted(by_name),
        [
            ("DataSet", "train"),
            ("Metric", "accuracy"),
            ("Metric", "loss"),
            ("Parameter", "learning_rate"),
            ("Parameter", "optimizer"),
        ],
        "the run's logs: two parameters, two metrics, one dataset",
    )
    loss = by_name[("Metric", "loss")]
    s.eq((loss.value, loss.step), (0.3, 2), "the run's metric holds its latest value")
    s.eq(by_name[("Parameter", "optimizer")].value, "adam", "a logged parameter")
    dataset = by_name[("DataSet", "train")]
    s.check(isinstance(dataset, DataSet), "the dataset comes back as a DataSet")
    s.eq(
        (dataset.uri, dataset.source_type, dataset.schema),
        ("s3://bucket/train.csv", "s3", '{"columns": 3}'),
        "the dataset's fields",
    )
    s.check(
        isinstance(by_name[("Parameter", "learning_rate")], Parameter), "parameters come back as Parameter"
    )
    s.eq(
        len(list(mr.get_experiment_run_logs(run_name=info.name, experiment_name=experiment_name))),
        5,
        "the logs found by run and experiment name",
    )

    s.step("read the metric history")
    s.eq(
        history(mr, info.id, name="loss"),
        [("loss", 0.9, 0), ("loss", 0.5, 1), ("loss", 0.3, 2)],
        "every logged value of the run's loss, in order",
    )
    s.eq(history(mr, info.id, step_ids="0"), [("loss", 0.9, 0), ("accuracy", 0.71, 0)], "step 0 of the run")
    s.eq(history(mr, info.id, name="acc"), [("accuracy", 0.71, 0)], "a name substring")
    everywhere = history(mr, None, name="loss", step_ids="1")
    s.check(
        ("loss", 0.5, 1) in everywhere and ("loss", 0.8, 1) in everywhere,
        f"step 1 of loss in every run: {everywhere}",
    )


if __name__ == "__main__":
    run(Scenario("experiments"), body)
