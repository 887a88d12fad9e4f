"""filterQuery: parsing, type checking, and which rows a compiled filter selects in a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Table, and_, insert, inspect, or_, select

from modelshelf.domain import entities
from modelshelf.domain.entities import Entity, Kind
from modelshelf.errors import InvalidArgument
from modelshelf.store import tables
from modelshelf.store.engine import connect
from modelshelf.store.filterquery import (
    MAX_BYTES,
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_NESTING,
    MAX_VALUES,
    _Comparison,
    _Junction,
    _Node,
    _Parser,
    _tokenize,
    _Value,
    compile_filter,
)

RM = entities.REGISTERED_MODEL
LONG = "x" * 250


def _model(id_: int, name: str, state: str, create_time: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "name": name,
        "state": state,
        "create_time": create_time,
        "last_update_time": 0,
        **extra,
    }


def _prop(table: str, id_: int, name: str, value: object) -> dict[str, Any]:
    row: dict[str, Any] = {
        "entity_table": table,
        "entity_id": id_,
        "name": name,
        "string_value": None,
        "string_key": None,
        "int_value": None,
        "double_value": None,
        "bool_value": None,
    }
    if isinstance(value, bool):
        row["bool_value"] = value
    elif isinstance(value, int):
        row["int_value"] = value
    elif isinstance(value, float):
        row["double_value"] = value
    else:
        assert isinstance(value, str)
        row["string_value"] = value
        row["string_key"] = value[: tables.STRING_KEY_LENGTH]
    return row


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for row in rows:  # one by one: the rows set different columns
        conn.execute(insert(table), row)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect("sqlite:///" + str(tmp_path / "filter.db"))
    tables.metadata.create_all(engine)
    rm, mv, art = "registered_model", "model_version", "artifact"
    with engine.begin() as conn:
        _insert(
            conn,
            tables.registered_model,
            [
                _model(1, "alpha", "LIVE", 1000, owner="alice", external_id="ext-1", description="first"),
                _model(2, "Beta", "ARCHIVED", 2000, owner="bob"),
                _model(3, "gamma-model", "LIVE", 3000),
                _model(4, "it's", "LIVE", 4000, owner='O"Neil'),
                _model(5, "100%", "LIVE", 5000, owner="back\\slash"),
                _model(6, "1000", "LIVE", 6000),
            ],
        )
        _insert(
            conn,
            tables.model_version,
            [
                _model(1, "v1", "LIVE", 1, registered_model_id=1, author="alice"),
                _model(2, "v2", "ARCHIVED", 2, registered_model_id=1, author="bob"),
                _model(3, "v1", "LIVE", 3, registered_model_id=2),
            ],
        )
        base = {"state": "LIVE", "create_time": 0, "last_update_time": 0}
        _insert(
            conn,
            tables.artifact,
            [
                {**base, "id": 1, "name": "model", "artifact_type": "model-artifact"}
                | {"uri": "s3://bucket/model", "model_format_name": "onnx"},
                {**base, "id": 2, "name": "loss", "artifact_type": "metric", "metric_value": 0.25, "step": 3},
                {**base, "id": 3, "name": "acc", "artifact_type": "metric", "metric_value": 0.9, "step": 10},
                {**base, "id": 4, "name": "lr", "artifact_type": "parameter"}
                | {"parameter_value": "0.01", "parameter_type": "number", "state": "PENDING"},
            ],
        )
        conn.execute(
            insert(tables.custom_property),
            [
                _prop(rm, 1, "framework", "pytorch"),
                _prop(rm, 1, "accuracy", 0.93),
                _prop(rm, 1, "epochs", 10),
                _prop(rm, 1, "enabled", True),
                _prop(rm, 1, "mlflow.source.type", "notebook"),
                _prop(rm, 1, "custom-metric", 0.9),
                _prop(rm, 2, "framework", "tensorflow"),
                _prop(rm, 2, "accuracy", 1),
                _prop(rm, 2, "epochs", 5),
                _prop(rm, 2, "enabled", False),
                _prop(rm, 2, "language", "en"),
                _prop(rm, 2, "back\\slash", "yes"),
                _prop(rm, 2, "tick`s", "yes"),
                _prop(rm, 3, "framework", LONG),
                _prop(rm, 3, "accuracy", 0.5),
                _prop(rm, 3, "a.b.c", 1),
                _prop(rm, 3, "name", "alpha"),
                _prop(rm, 3, "negative", -7),
                _prop(mv, 1, "framework", "jax"),
                _prop(mv, 2, "score", 7),
                _prop(art, 1, "framework", "pytorch"),
            ],
        )
    yield engine
    engine.dispose()


def ids(engine: Engine, text: str | None, entity: Entity = RM) -> list[int]:
    table = tables.BY_NAME[entity.table]
    expr = compile_filter(text, entity, table)
    assert expr is not None
    with engine.connect() as conn:
        return sorted(conn.execute(select(table.c.id).where(expr)).scalars())


def parse(text: str) -> _Node:
    return _Parser(_tokenize(text)).parse()


def error(text: str, entity: Entity = RM) -> str:
    with pytest.raises(InvalidArgument) as caught:
        compile_filter(text, entity, tables.BY_NAME[entity.table])
    return str(caught.value)


# --- parser -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t ", "-- only a comment", "-- one\n  -- two\n"])
def test_empty_filter_is_no_filter(text: str | None) -> None:
    assert compile_filter(text, RM, tables.registered_model) is None


def test_and_binds_tighter_than_or() -> None:
    node = parse("a = 1 OR b = 2 AND c = 3")
    assert isinstance(node, _Junction) and node.op == "OR"
    assert isinstance(node.items[0], _Comparison) and node.items[0].name == "a"
    assert isinstance(node.items[1], _Junction) and node.items[1].op == "AND"
    assert [c.name for c in node.items[1].items if isinstance(c, _Comparison)] == ["b", "c"]


def test_parentheses_override_precedence() -> None:
    node = parse("(a = 1 OR b = 2) AND c = 3")
    assert isinstance(node, _Junction) and node.op == "AND"
    assert isinstance(node.items[0], _Junction) and node.items[0].op == "OR"


def test_chains_are_flat() -> None:
    node = parse("a = 1 OR b = 2 OR c = 3 OR d = 4")
    assert isinstance(node, _Junction) and len(node.items) == 4


def test_same_operator_groups_are_flattened() -> None:
    node = parse("(a = 1 OR (b = 2 OR c = 3)) OR d = 4 AND (e = 5 AND f = 6)")
    assert isinstance(node, _Junction) and node.op == "OR" and node.depth == 2
    assert [getattr(i, "name", None) for i in node.items] == ["a", "b", "c", None]
    inner = node.items[3]
    assert isinstance(inner, _Junction) and [getattr(i, "name", None) for i in inner.items] == ["d", "e", "f"]


def test_redundant_parentheses_vanish() -> None:
    assert parse("((((a = 1))))") == _Comparison("a", None, "=", _Value("int", 1, "1"))


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("a = 1", "="),
        ("a != 1", "!="),
        ("a <> 1", "!="),
        ("a < 1", "<"),
        ("a <= 1", "<="),
        ("a > 1", ">"),
        ("a >= 1", ">="),
        ("a LIKE 'x'", "LIKE"),
        ("a like 'x'", "LIKE"),
        ("a ILIKE 'x'", "ILIKE"),
        ("a iLike 'x'", "ILIKE"),
        ("a IN (1)", "IN"),
        ("a in (1)", "IN"),
        ("a>=1", ">="),
    ],
)
def test_operators(text: str, op: str) -> None:
    node = parse(text)
    assert isinstance(node, _Comparison) and node.op == op


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("'plain'", _Value("string", "plain", "'plain'")),
        ('"double"', _Value("string", "double", '"double"')),
        (r"'it\'s'", _Value("string", "it's", r"'it\'s'")),
        (r'"say \"hi\""', _Value("string", 'say "hi"', r'"say \"hi\""')),
        (r"'a\\b'", _Value("string", "a\\b", r"'a\\b'")),
        (r"'100\%'", _Value("string", "100\\%", r"'100\%'")),  # unknown escapes are kept
        ('"it\'s"', _Value("string", "it's", '"it\'s"')),
        ("''", _Value("string", "", "''")),
        ("'multi\nline'", _Value("string", "multi\nline", "'multi\nline'")),
        ("42", _Value("int", 42, "42")),
        ("-42", _Value("int", -42, "-42")),
        ("+7", _Value("int", 7, "+7")),
        ("0", _Value("int", 0, "0")),
        ("3.25", _Value("float", 3.25, "3.25")),
        (".5", _Value("float", 0.5, ".5")),
        ("-.5", _Value("float", -0.5, "-.5")),
        ("1e3", _Value("float", 1000.0, "1e3")),
        ("2.5E-2", _Value("float", 0.025, "2.5E-2")),
        ("-1e+2", _Value("float", -100.0, "-1e+2")),
        ("true", _Value("bool", True, "true")),
        ("TRUE", _Value("bool", True, "TRUE")),
        ("False", _Value("bool", False, "False")),
    ],
)
def test_literals(literal: str, expected: _Value) -> None:
    node = parse(f"a = {literal}")
    assert isinstance(node, _Comparison) and node.value == expected


def test_in_lists() -> None:
    node = parse("a IN ('x', 2, 3.5, true)")
    assert isinstance(node, _Comparison) and isinstance(node.value, tuple)
    assert [v.type for v in node.value] == ["string", "int", "float", "bool"]
    empty = parse("a IN ()")
    assert isinstance(empty, _Comparison) and empty.value == ()


@pytest.mark.parametrize(
    ("text", "name", "suffix"),
    [
        ("framework = 1", "framework", None),
        ("a.b.c = 1", "a.b.c", None),
        ("framework.string_value = 1", "framework", "string"),
        ("framework.STRING_VALUE = 1", "framework", "string"),
        ("budget.double_value = 1", "budget", "double"),
        ("priority.int_value = 1", "priority", "int"),
        ("enabled.Bool_Value = 1", "enabled", "bool"),
        ("a.b.int_value = 1", "a.b", "int"),
        ("a.int_value.b = 1", "a.int_value.b", None),
        ("int_value = 1", "int_value", None),
        ("`mlflow.source.type` = 1", "mlflow.source.type", None),
        (r"`mlflow\.source\.type` = 1", "mlflow.source.type", None),
        (r"`back\\slash` = 1", "back\\slash", None),
        (r"`tick\`s` = 1", "tick`s", None),
        ("`x.int_value` = 1", "x.int_value", None),
        ("`custom-metric` = 1", "custom-metric", None),
        ("`` = 1", "", None),
        ("_under_score9 = 1", "_under_score9", None),
        ("AND = 1", "AND", None),
    ],
)
def test_property_names(text: str, name: str, suffix: str | None) -> None:
    node = parse(text)
    assert isinstance(node, _Comparison) and (node.name, node.suffix) == (name, suffix)


def test_comments_and_whitespace_are_ignored() -> None:
    text = "-- models\n  a = 1 -- first\n\tAND\n b = 'x -- not a comment' -- last"
    node = parse(text)
    assert isinstance(node, _Junction) and len(node.items) == 2
    second = node.items[1]
    assert isinstance(second, _Comparison) and second.value == _Value(
        "string", "x -- not a comment", "'x -- not a comment'"
    )


# --- syntax errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "(name = 'a'",
        "((name = 'a')",
        "name = 'a')",
        "name =",
        "name",
        "= 'a'",
        "'a' = name",
        "name 'a'",
        "name == 'a'",
        "name = 'a' 'b'",
        "name = 'a' AND",
        "name = 'a' OR OR name = 'b'",
        "AND name = 'a'",
        "name = 'a' AND ()",
        "()",
        "name = 'unterminated",
        'name = "unterminated',
        "`unterminated = 1",
        "name = 'a' ; DROP TABLE registered_model",
        "name = ('a')",
        "name IN 'a'",
        "name IN ('a',)",
        "name IN ('a' 'b')",
        "name IN ('a'",
        "name IN (('a'))",
        "name LIKE 5",
        "name LIKE true",
        "name ILIKE ('a')",
        "name. = 'a'",
        "name.1 = 'a'",
        "1 = 1",
        "name = 1.",
        "name = 1e",
        "name = --5",
        "name = 'a' NOT name = 'b'",
        "name IS NULL",
        "name = @",
        "`a`.int_value = 1",
    ],
)
def test_syntax_errors(text: str) -> None:
    assert error(text).startswith("invalid filter query syntax: ")


@pytest.mark.parametrize(
    "text", ["name = alpha", "name = LIVE AND id = 1", "name IN ('a', b)", "name != `x`"]
)
def test_unquoted_value_gets_a_hint(text: str) -> None:
    message = error(text)
    assert message.startswith("invalid filter query syntax: ")
    assert "did you forget to quote the value?" in message


def test_error_names_the_position() -> None:
    assert "position 12" in error("name = 'a' & id = 1")
    assert "end of query" in error("name = 'a' AND")


@pytest.mark.parametrize("text", ["name = 'a\x00'", "\x00", "name = 'a' \x00"])
def test_nul_bytes_are_rejected(text: str) -> None:
    assert "NUL" in error(text)


def test_lone_surrogates_are_rejected() -> None:
    assert "Unicode" in error("name = '\ud800'")


def test_input_length_is_capped(engine: Engine) -> None:
    assert ids(engine, "name = '" + "a" * (MAX_BYTES - 20) + "'") == []
    assert "longer than" in error("name = '" + "a" * MAX_BYTES + "'")
    # multi-byte characters count as bytes
    assert "longer than" in error("name = '" + "é" * (MAX_BYTES // 2) + "'")


def test_nesting_is_capped_without_recursion_error(engine: Engine) -> None:
    assert ids(engine, "(" * MAX_DEPTH + "id = 1" + ")" * MAX_DEPTH) == [1]
    assert "nested deeper" in error("(" * (MAX_DEPTH + 1) + "id = 1" + ")" * (MAX_DEPTH + 1))
    assert "nested deeper" in error("(" * 30000)
    assert "nested deeper" in error("(id = 1 OR " * 5000 + "id = 2" + ")" * 5000)


def _alternating(levels: int, leaf: str) -> str:
    """`levels` AND/OR groups nested inside each other, alternating operators."""
    text = leaf
    for level in range(levels):
        text = f"({leaf} {'AND' if level % 2 else 'OR'} {text})"
    return text


def test_alternating_nesting_is_capped_below_sqlite_parser_stack(engine: Engine) -> None:
    deepest = _alternating(MAX_NESTING, "accuracy > 0")
    node = parse(deepest)
    assert isinstance(node, _Junction) and node.depth == MAX_NESTING
    table = tables.registered_model
    expr = compile_filter(deepest, RM, table)
    assert expr is not None
    # as the repository uses it: inside further AND/OR groups of its own (scope, page token)
    where = and_(table.c.id > 0, or_(table.c.id < 0, and_(table.c.id > -1, expr)))
    with engine.connect() as conn:
        assert sorted(conn.execute(select(table.c.id).where(where)).scalars()) == [1, 2, 3]
    assert "AND/OR groups nested deeper" in error(_alternating(MAX_NESTING + 1, "accuracy > 0"))


def test_same_operator_nesting_is_not_limited_by_the_nesting_cap(engine: Engine) -> None:
    ors = "id = 1"
    for _ in range(MAX_DEPTH - 1):
        ors = f"(id = 2 OR {ors})"
    assert ids(engine, ors) == [1, 2]


def test_comparison_count_is_capped_below_sqlite_expression_depth(engine: Engine) -> None:
    widest = " OR ".join(["accuracy > 0"] * MAX_COMPARISONS)
    assert ids(engine, widest) == [1, 2, 3]
    nested = "(" * MAX_DEPTH + widest + ")" * MAX_DEPTH
    assert ids(engine, nested) == [1, 2, 3]
    assert "comparisons" in error(widest + " OR id = 1")


def test_value_count_is_capped(engine: Engine) -> None:
    values = ", ".join(str(i) for i in range(MAX_VALUES))
    assert ids(engine, f"id IN ({values})") == [1, 2, 3, 4, 5, 6]
    assert ids(engine, f"epochs IN ({values})") == [1, 2]
    assert "values" in error(f"id IN ({values}, 1)")


def test_huge_integers_are_rejected() -> None:
    assert "out of range" in error("id = 9223372036854775808")
    assert "out of range" in error("id = -9223372036854775809")
    assert "out of range" in error("id = " + "9" * 5000)
    assert "out of range" in error("accuracy > 1e999")


# --- type errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entity", "needle"),
    [
        ("id = 'abc'", RM, "'id'"),
        ("id = '1.5'", RM, "'id'"),
        ("id = ' 1'", RM, "'id'"),
        ("id = 1.5", RM, "'id'"),
        ("id = 1e3", RM, "'id'"),
        ("id = true", RM, "'id'"),
        ("id IN (1, 'x')", RM, "'id'"),
        ("createTimeSinceEpoch > 'yesterday'", RM, "'createTimeSinceEpoch'"),
        ("id = '99999999999999999999'", RM, "'id'"),
        ("name = true", RM, "'name'"),
        ("state IN ('LIVE', false)", RM, "'state'"),
        ("id LIKE '1%'", RM, "'id'"),
        ("createTimeSinceEpoch ILIKE '1%'", RM, "'createTimeSinceEpoch'"),
        ("registeredModelId = 'one'", entities.MODEL_VERSION, "'registeredModelId'"),
        ("value = 'high'", entities.METRIC, "'value'"),
        ("value = true", entities.METRIC, "'value'"),
        ("step = 1.5", entities.METRIC, "'step'"),
        ("epochs.int_value = 'ten'", RM, "'epochs'"),
        ("epochs.int_value = 1.5", RM, "'epochs'"),
        ("accuracy.double_value = 'x'", RM, "'accuracy'"),
        ("enabled.bool_value = 1", RM, "'enabled'"),
        ("enabled.bool_value = 'true'", RM, "'enabled'"),
        ("framework.string_value = true", RM, "'framework'"),
        ("epochs.int_value LIKE '1%'", RM, "'epochs'"),
        ("enabled > true", RM, "'enabled'"),
        ("enabled.bool_value <= false", RM, "'enabled'"),
        ("mixed IN ('a', 1)", RM, "'mixed'"),
        ("mixed IN (true, 1)", RM, "'mixed'"),
        ("name LIKE 'ends with \\\\\\\\\\\\'", RM, "unfinished"),
    ],
)
def test_type_errors(text: str, entity: Entity, needle: str) -> None:
    message = error(text, entity)
    assert message.startswith("invalid filter query: ")
    assert needle in message


# --- execution: well-known fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'alpha'", [1]),
        ('name = "alpha"', [1]),
        ("name != 'alpha'", [2, 3, 4, 5, 6]),
        ("name <> 'alpha'", [2, 3, 4, 5, 6]),
        ("name < 'B'", [5, 6]),
        ("name <= 'Beta'", [2, 5, 6]),
        ("name > 'alpha'", [3, 4]),
        ("name >= 'alpha'", [1, 3, 4]),
        ("name = 'ALPHA'", []),
        ("name = 'it\\'s'", [4]),
        ('name = "it\'s"', [4]),
        ("owner = 'O\"Neil'", [4]),
        ('owner = "O\\"Neil"', [4]),
        ("owner = 'back\\\\slash'", [5]),
        ("owner = 'back\\slash'", [5]),  # `\s` is not an escape, so it stays as written
        ("name = 1000", [6]),  # a number compared with a string column is compared as its text
        ("name IN (1000, 'alpha')", [1, 6]),
        ("externalId = 'ext-1'", [1]),
        ("description = 'first'", [1]),
        ("owner = 'alice'", [1]),
        ("state = 'LIVE'", [1, 3, 4, 5, 6]),
        ("state = 'live'", []),
        ("state = 'NO_SUCH_STATE'", []),
        ("state IN ('LIVE', 'ARCHIVED')", [1, 2, 3, 4, 5, 6]),
        ("state IN ('ARCHIVED')", [2]),
        ("name IN ()", []),
        ("id IN ()", []),
        ("id IN () OR id = 2", [2]),
        ("id = 3", [3]),
        ("id = '3'", [3]),
        ("id = '+3'", [3]),
        ("id != 3", [1, 2, 4, 5, 6]),
        ("id > 4", [5, 6]),
        ("id >= 4", [4, 5, 6]),
        ("id < 2", [1]),
        ("id <= 2", [1, 2]),
        ("id > -1", [1, 2, 3, 4, 5, 6]),
        ("id IN (1, '3', 5)", [1, 3, 5]),
        ("createTimeSinceEpoch > 2500", [3, 4, 5, 6]),
        ("createTimeSinceEpoch >= '2000' AND createTimeSinceEpoch < '4000'", [2, 3]),
        ("lastUpdateTimeSinceEpoch = 0", [1, 2, 3, 4, 5, 6]),
    ],
)
def test_well_known_fields(engine: Engine, text: str, expected: list[int]) -> None:
    assert ids(engine, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name LIKE 'a%'", [1]),
        ("name LIKE '%model'", [3]),
        ("name LIKE '_eta'", [2]),
        ("name LIKE '%'", [1, 2, 3, 4, 5, 6]),
        ("name LIKE '100%'", [5, 6]),
        ("name LIKE '100\\%'", [5]),  # `\%` is a literal percent sign
        ("name LIKE '1\\_00'", []),
        ('name LIKE "%it\'s%"', [4]),
        ("name ILIKE 'BETA'", [2]),
        ("name ILIKE 'g%MODEL'", [3]),
        ("name ILIKE '%\\%'", [5]),
        ("owner LIKE 'back\\\\\\\\slash'", [5]),  # pattern `back\\slash`: an escaped backslash
    ],
)
def test_like(engine: Engine, text: str, expected: list[int]) -> None:
    assert ids(engine, text) == expected


def test_like_on_sqlite_ignores_ascii_case(engine: Engine) -> None:
    # Documented limitation: SQLite's LIKE is case-insensitive for ASCII (PostgreSQL's is not).
    assert ids(engine, "name LIKE 'b%'") == [2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # AND binds tighter: LIVE rows, plus (Beta AND alice) which is nobody
        ("state = 'LIVE' OR name = 'Beta' AND owner = 'alice'", [1, 3, 4, 5, 6]),
        ("(state = 'LIVE' OR name = 'Beta') AND owner = 'alice'", [1]),
        ("name = 'Beta' OR (state = 'LIVE' AND owner = 'alice')", [1, 2]),
        ("(name = 'alpha' OR name = 'Beta') AND state = 'LIVE'", [1]),
        ("name = 'alpha' and state = 'LIVE' Or id = 2", [1, 2]),
        ("((id = 1 OR id = 2) AND (id = 2 OR id = 3)) OR (id = 6)", [2, 6]),
        ("id > 1 AND id < 6 AND state = 'LIVE' AND name LIKE '%'", [3, 4, 5]),
        ("-- pick two\nid = 1 -- the first\nOR id = 2 -- the second", [1, 2]),
    ],
)
def test_boolean_structure(engine: Engine, text: str, expected: list[int]) -> None:
    assert ids(engine, text) == expected


def test_injection_attempts_are_just_values(engine: Engine) -> None:
    assert ids(engine, 'name = "\'; DROP TABLE registered_model; --"') == []
    assert ids(engine, "`x'; DROP TABLE registered_model; --` = 1") == []
    assert ids(engine, "name LIKE \"%' OR '1'='1\"") == []
    assert "registered_model" in inspect(engine).get_table_names()


# --- execution: custom properties ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("framework = 'pytorch'", [1]),
        ('framework = "tensorflow"', [2]),
        ("framework != 'pytorch'", [2, 3]),  # only rows that have the property
        ("framework <> 'pytorch'", [2, 3]),
        ("framework > 'q'", [2, 3]),
        ("framework LIKE 'py%'", [1]),
        ("framework LIKE 'xxx%'", [3]),
        ("framework ILIKE 'PY%'", [1]),
        ("framework IN ('pytorch', 'tensorflow')", [1, 2]),
        ("framework IN ()", []),
        ("framework = 'jax'", []),  # a model version's property, not a registered model's
        (f"framework = '{LONG}'", [3]),
        (f"framework = '{LONG[:200]}'", []),  # the indexed prefix alone is not a match
        (f"framework = '{LONG[:199]}'", []),  # shorter than the prefix: the key alone decides
        (f"framework IN ('{LONG[:199]}', 'pytorch')", [1]),
        (f"framework IN ('{LONG[:200]}', '{LONG}')", [3]),
        (f"framework = '{LONG[:-1]}y'", []),
        (f"framework IN ('{LONG}', 'pytorch')", [1, 3]),
        ("framework.string_value = 'pytorch'", [1]),
        ("framework.STRING_VALUE = 'pytorch'", [1]),
        ("framework.string_value IN ('pytorch')", [1]),
        ("`mlflow.source.type` = 'notebook'", [1]),
        ('`mlflow\\.source\\.type` = "notebook"', [1]),
        ("`custom-metric` > 0.8", [1]),
        ("`back\\\\slash` = 'yes'", [2]),
        ("`tick\\`s` = 'yes'", [2]),
        ("a.b.c = 1", [3]),
        ("a.b.c.int_value = 1", [3]),
        ("unknown = 'x'", []),
        ("unknown != 'x'", []),
        ("customProperties = 'x'", []),
    ],
)
def test_custom_string_properties(engine: Engine, text: str, expected: list[int]) -> None:
    assert ids(engine, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an integer literal matches int and double properties
        ("accuracy > 0", [1, 2, 3]),
        ("accuracy >= 1", [2]),
        ("accuracy = 1", [2]),
        ("accuracy != 1", [1, 3]),
        ("accuracy IN (1)", [2]),
        # a float literal matches double properties only
        ("accuracy > 0.9", [1]),
        ("accuracy = 1.0", []),
        ("accuracy IN (0.5, 0.93)", [1, 3]),
        ("accuracy IN (0.5, 1)", [3]),  # a list with a float selects doubles
        ("accuracy < 1e0", [1, 3]),
        ("accuracy > .6", [1]),
        ("accuracy > -.5", [1, 3]),
        ("accuracy.double_value > 0.9", [1]),
        ("accuracy.double_value >= 1", []),  # the int property is not a double
        ("accuracy.int_value = 1", [2]),
        ("accuracy.int_value = '1'", [2]),
        ("epochs = 10", [1]),
        ("epochs < 8", [2]),
        ("epochs.int_value < 8", [2]),
        ("epochs > -1", [1, 2]),
        ("epochs IN (5, 10)", [1, 2]),
        ("epochs.int_value IN (5, '10')", [1, 2]),
        ("epochs IN ()", []),
        ("negative = -7", [3]),
        ("negative < -6.5", []),  # a float literal does not look at int properties
        ("negative.double_value < 0", []),
        ("epochs.string_value = 10", []),  # forced to the string column, where nothing is stored
        ("epochs = '10'", []),
    ],
)
def test_custom_number_properties(engine: Engine, text: str, expected: list[int]) -> None:
    assert ids(engine, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("enabled = true", [1]),
        ("enabled = TRUE", [1]),
        ("enabled = false", [2]),
        ("enabled != true", [2]),
        ("enabled <> false", [1]),
        ("enabled.bool_value = true", [1]),
        ("enabled IN (true, false)", [1, 2]),
        ("enabled = 'true'", []),
    ],
)
def test_custom_bool_properties(engine: Engine, text: str, expected: list[int]) -> None:
    assert ids(engine, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name.string_value = 'alpha'", [3]),  # a suffix makes even `name` a custom property
        ("language = 'en'", [2]),  # string-list fields are matched as custom properties
        ("framework = 'pytorch' AND accuracy > 0.9 AND epochs = 10 AND enabled = true", [1]),
        ("framework = 'pytorch' OR epochs < 8", [1, 2]),
        ("(framework = 'pytorch' OR framework = 'tensorflow') AND state = 'LIVE'", [1]),
        ("accuracy > 0 AND id != 2", [1, 3]),
    ],
)
def test_mixed_and_shadowed_properties(engine: Engine, text: str, expected: list[int]) -> None:
    assert ids(engine, text) == expected


# --- execution: other entities ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entity", "expected"),
    [
        ("name = 'v1'", entities.MODEL_VERSION, [1, 3]),
        ("registeredModelId = 1", entities.MODEL_VERSION, [1, 2]),
        ("registeredModelId = '2'", entities.MODEL_VERSION, [3]),
        ("registeredModelId = 1 AND state = 'ARCHIVED'", entities.MODEL_VERSION, [2]),
        ("author = 'alice' OR author = 'bob'", entities.MODEL_VERSION, [1, 2]),
        ("framework = 'jax'", entities.MODEL_VERSION, [1]),
        ("score > 6", entities.MODEL_VERSION, [2]),
        ("score.int_value = 7", entities.MODEL_VERSION, [2]),
        ("uri LIKE 's3://%'", entities.MODEL_ARTIFACT, [1]),
        ("modelFormatName = 'onnx'", entities.MODEL_ARTIFACT, [1]),
        ("framework = 'pytorch'", entities.MODEL_ARTIFACT, [1]),
        ("framework = 'pytorch'", entities.ANY_ARTIFACT, [1]),
        ("state = 'PENDING'", entities.ANY_ARTIFACT, [4]),
        ("artifactType = 'metric'", entities.ANY_ARTIFACT, [2, 3]),
        ("value > 0.5", entities.METRIC, [3]),
        ("value > 0", entities.METRIC, [2, 3]),
        ("value <= '1'", entities.ANY_ARTIFACT, []),  # no `value` field here: a custom property
        ("step >= 3 AND step < '10'", entities.METRIC, [2]),
        ("step IN (3, 10)", entities.METRIC, [2, 3]),
        ("value = '0.01'", entities.PARAMETER, [4]),
        ("value = 0.01", entities.PARAMETER, [4]),  # kept as written: compared with the text "0.01"
        ("parameterType = 'number'", entities.PARAMETER, [4]),
    ],
)
def test_other_entities(engine: Engine, text: str, entity: Entity, expected: list[int]) -> None:
    assert ids(engine, text, entity) == expected


def _sample(kind: Kind) -> str:
    return {Kind.ID: "1", Kind.EPOCH: "'1'", Kind.INT64: "1", Kind.DOUBLE: "1.5"}.get(kind, "'x'")


@pytest.mark.parametrize("entity", [*entities.ALL, entities.ANY_ARTIFACT], ids=lambda e: e.name)
def test_every_field_of_every_entity_compiles_and_runs(engine: Engine, entity: Entity) -> None:
    table: Table = tables.BY_NAME[entity.table]
    for field in entity.fields:
        text = f"{field.api} = {_sample(field.kind)} OR {field.api} IN ({_sample(field.kind)})"
        expr = compile_filter(text, entity, table)
        assert expr is not None
        with engine.connect() as conn:
            conn.execute(select(table.c.id).where(expr)).all()
