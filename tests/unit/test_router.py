"""SegmentRouter.match: a literal segment wins over a parameter, whatever the order of registration."""

from __future__ import annotations

import itertools

import pytest
from starlette.requests import Request
from starlette.responses import Response

from modelshelf.api.errors import PLAIN
from modelshelf.api.router import Handler, SegmentRouter


def _handler(name: str) -> Handler:
    async def handle(_request: Request) -> Response:
        return Response(name)

    handle.__name__ = name
    return handle


HISTORY = _handler("history")
RUN = _handler("run")
RUN_HISTORY = _handler("run_history")
RUN_UPDATE = _handler("run_update")


def _router(routes: list[tuple[str, str, Handler]]) -> SegmentRouter:
    return SegmentRouter([(method, path, handler, None) for method, path, handler in routes], PLAIN)


def _matched(router: SegmentRouter, path: str) -> tuple[dict[str, str], dict[str, str]] | None:
    found = router.match(path)
    if found is None:
        return None
    handlers, params = found
    return {method: handler.__name__ for method, handler in handlers.items()}, params


@pytest.mark.parametrize("literal_first", [True, False], ids=["literal first", "parameter first"])
def test_a_literal_segment_wins_over_a_parameter_in_either_order(literal_first: bool) -> None:
    literal = ("GET", "/experiment_runs/metric_history", HISTORY)
    parameter = ("GET", "/experiment_runs/{id}", RUN)
    router = _router([literal, parameter] if literal_first else [parameter, literal])
    assert _matched(router, "/experiment_runs/metric_history") == ({"GET": "history"}, {})
    assert _matched(router, "/experiment_runs/7") == ({"GET": "run"}, {"id": "7"})
    # A name that only starts like the literal is still a parameter value.
    assert _matched(router, "/experiment_runs/metric_history2") == ({"GET": "run"}, {"id": "metric_history2"})


def test_methods_of_the_literal_template_do_not_fall_back_to_the_parameter() -> None:
    """A POST to the literal path is the literal route's 405, not an update of a run named like it."""
    router = _router(
        [
            ("PATCH", "/experiment_runs/{id}", RUN_UPDATE),
            ("GET", "/experiment_runs/metric_history", HISTORY),
        ]
    )
    assert _matched(router, "/experiment_runs/metric_history") == ({"GET": "history"}, {})
    assert _matched(router, "/experiment_runs/3") == ({"PATCH": "run_update"}, {"id": "3"})


ROUTES = [
    ("GET", "/experiment_runs/{id}", RUN),
    ("GET", "/experiment_runs/metric_history", HISTORY),
    ("GET", "/experiment_runs/{id}/metric_history", RUN_HISTORY),
    ("GET", "/experiment_runs/{id}/{kind}", RUN),
    ("GET", "/experiment_runs/metric_history/{kind}", HISTORY),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(ROUTES)))))
def test_the_leftmost_literal_decides_in_every_order_of_registration(order: tuple[int, ...]) -> None:
    router = _router([ROUTES[i] for i in order])
    assert _matched(router, "/experiment_runs/metric_history") == ({"GET": "history"}, {})
    assert _matched(router, "/experiment_runs/5") == ({"GET": "run"}, {"id": "5"})
    assert _matched(router, "/experiment_runs/5/metric_history") == ({"GET": "run_history"}, {"id": "5"})
    assert _matched(router, "/experiment_runs/5/other") == ({"GET": "run"}, {"id": "5", "kind": "other"})
    # Both `/metric_history/{kind}` and `/{id}/metric_history` fit; the literal in the second segment wins.
    assert _matched(router, "/experiment_runs/metric_history/metric_history") == (
        {"GET": "history"},
        {"kind": "metric_history"},
    )


def test_no_match_and_empty_parameters() -> None:
    router = _router(ROUTES)
    assert _matched(router, "/experiment_runs") is None
    assert _matched(router, "/experiment_runs//metric_history") is None  # an empty id is no id
    assert _matched(router, "/experiments/5") is None
    assert _matched(router, "/experiment_runs/5/a/b") is None


def test_a_template_that_starts_with_a_parameter_is_refused() -> None:
    """The router indexes templates by their first segment; such a route could never be reached."""
    with pytest.raises(ValueError, match="must start with a literal segment"):
        _router([("GET", "/{id}", RUN)])
