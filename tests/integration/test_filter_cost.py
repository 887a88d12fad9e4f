"""The cost of a custom-property filterQuery grows linearly with its comparisons, on both databases.

Measured before the fix: on SQLite an OR of 100 custom comparisons over 5,000 models took 1.9 s and 500
took 54 s, because each comparison was a correlated EXISTS run once per row. Wall time is noise on a
shared machine, so these tests count what the database says it does: SQLite's virtual-machine steps
(a progress handler called every 100 opcodes) and its query plan; PostgreSQL's EXPLAIN (FORMAT JSON).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from psycopg.types.string import TextLoader
from sqlalchemy import Connection, Engine, Select, insert, select, text

from modelshelf.domain.entities import REGISTERED_MODEL
from modelshelf.store import tables
from modelshelf.store.filterquery import compile_filter

MODELS = 1000
FEW, MANY = 100, 400

SHAPES: dict[str, Callable[[int], str]] = {
    "OR of equalities": lambda k: " OR ".join(f"p = 'v{3 * j}'" for j in range(k)),
    "OR of <, >, LIKE, IN": lambda k: " OR ".join(
        [f"p = 'v{j}'", f"n > {MODELS + j}", f"p LIKE 'v{j}%'", f"n < {-j}", f"p IN ('v{j}', 'w{j}')"][j % 5]
        for j in range(k)
    ),
    "OR of ANDs": lambda k: " OR ".join(f"(p = 'v{j}' AND n >= {j})" for j in range(k // 2)),
    "AND of !=": lambda k: " AND ".join(f"n != {j}" for j in range(k)),
    "AND of ORs, mixed names": lambda k: " AND ".join(
        f"(p != 'x{j}' OR n = {j} OR name = 'm{j}')" for j in range(k // 3)
    ),
}


@pytest.fixture
def models(engine: Engine) -> Engine:
    """MODELS registered models, each with a string property `p` and an integer property `n`."""
    rows: list[dict[str, Any]] = []
    props: list[dict[str, Any]] = []
    for i in range(1, MODELS + 1):
        rows.append({"id": i, "name": f"m{i}", "state": "LIVE", "create_time": i, "last_update_time": i})
        empty = dict.fromkeys(("string_value", "string_key", "int_value", "double_value", "bool_value"))
        owner = {"entity_table": "registered_model", "entity_id": i} | empty
        props.append(owner | {"name": "p", "string_value": f"v{i}", "string_key": f"v{i}"})
        props.append(owner | {"name": "n", "int_value": i})
    with engine.begin() as conn:
        conn.execute(insert(tables.registered_model), rows)
        conn.execute(insert(tables.custom_property), props)
    with engine.connect() as conn:
        # Plans from real statistics, as a server that has run a while has them.
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return engine


def _statement(query: str) -> Select[Any]:
    table = tables.registered_model
    condition = compile_filter(query, REGISTERED_MODEL, table)
    assert condition is not None
    return select(table.c.id).where(condition).order_by(table.c.id)


def _sqlite_steps(conn: Connection, statement: Select[Any]) -> int:
    """Hundreds of SQLite virtual-machine opcodes run by `statement`, to the last row."""
    calls = 0

    def count() -> int:
        nonlocal calls
        calls += 1
        return 0  # go on

    driver = conn.connection.driver_connection
    assert driver is not None
    driver.set_progress_handler(count, 100)
    try:
        conn.execute(statement).all()
    finally:
        driver.set_progress_handler(None, 0)
    return calls


def _literal_sql(conn: Connection, statement: Select[Any]) -> str:
    """The statement with its (test-made) values inline, for EXPLAIN."""
    return str(statement.compile(conn, compile_kwargs={"literal_binds": True}))


def _sqlite_plan(conn: Connection, statement: Select[Any]) -> list[str]:
    return [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + _literal_sql(conn, statement))]


@pytest.mark.parametrize("shape", SHAPES)
def test_sqlite_work_grows_linearly_with_comparisons(models: Engine, shape: str) -> None:
    if models.dialect.name != "sqlite":
        pytest.skip("SQLite's virtual machine")
    with models.connect() as conn:
        few = _sqlite_steps(conn, _statement(SHAPES[shape](FEW)))
        many = _sqlite_steps(conn, _statement(SHAPES[shape](MANY)))
        plan = _sqlite_plan(conn, _statement(SHAPES[shape](MANY)))
    assert many < 6 * few, (few, many)
    # A correlated subquery reruns for every row; its cursor opens were what made 500 comparisons cost
    # 30 times what 100 did (the opcodes alone grew only linearly).
    assert not [line for line in plan if "CORRELATED" in line], plan
    searches = [line for line in plan if "custom_property" in line]
    assert searches and all(
        re.match(r"SEARCH custom_property USING (COVERING )?INDEX ix_custom_property_", s) for s in searches
    )


def test_sqlite_or_of_equalities_does_not_revisit_rows_per_comparison(models: Engine) -> None:
    """The shape the defect was measured with: one index search per comparison, one probe per row."""
    if models.dialect.name != "sqlite":
        pytest.skip("SQLite's virtual machine")
    with models.connect() as conn:
        opcodes = 100 * _sqlite_steps(conn, _statement(SHAPES["OR of equalities"](MANY)))
    # A correlated EXISTS per comparison ran about 11 opcodes per row and comparison (4.5 million here).
    assert opcodes < MODELS * MANY // 10, opcodes


def _pg_plan(conn: Connection, statement: Select[Any]) -> tuple[dict[str, Any], str]:
    """The plan EXPLAIN (FORMAT JSON) gives, and its text."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        # As text: an INTERSECT of 250 SELECTs is a plan deeper than the JSON loader's recursion limit.
        cursor.adapters.register_loader("json", TextLoader)
        cursor.execute("EXPLAIN (FORMAT JSON) " + _literal_sql(conn, statement))
        row = cursor.fetchone()
    assert row is not None
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        plan: dict[str, Any] = json.loads(row[0])[0]["Plan"]
    finally:
        sys.setrecursionlimit(limit)
    return plan, row[0]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    todo = [plan]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(node.get("Plans", []))


@pytest.mark.parametrize("shape", SHAPES)
def test_postgres_plan_grows_linearly_and_runs_no_subplan_per_row(models: Engine, shape: str) -> None:
    if models.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner")
    with models.connect() as conn:
        few, _ = _pg_plan(conn, _statement(SHAPES[shape](FEW)))
        many, text_of_plan = _pg_plan(conn, _statement(SHAPES[shape](MANY)))
    assert many["Total Cost"] < 6 * few["Total Cost"], (few["Total Cost"], many["Total Cost"])
    # One correlated SubPlan per comparison was costed per row: its estimate alone (~8 per row and
    # comparison) put even small filters past jit_above_cost, and JIT compiling took 15 s of a 15.2 s query.
    assert many["Total Cost"] < MODELS * MANY / 10, many["Total Cost"]
    for node in _nodes(many):
        if node.get("Parent Relationship") == "SubPlan":
            # A SubPlan that is not hashed reruns for every row of its parent.
            assert f"hashed {node['Subplan Name']}" in text_of_plan, node["Subplan Name"]
    subplans = [n for n in _nodes(many) if n.get("Parent Relationship") == "SubPlan"]
    if shape.startswith("OR of") and shape != "OR of ANDs":
        assert len(subplans) <= 1, [n["Subplan Name"] for n in subplans]
