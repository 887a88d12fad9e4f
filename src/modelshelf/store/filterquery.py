"""The Kubeflow `filterQuery` language: a hand-written parser and a compiler to SQLAlchemy Core.

Grammar (docs: API.md §5): comparisons `property op value` joined by AND/OR (AND binds tighter) and
parentheses. A property is a well-known field of the entity (compared against its column) or else a
custom property, matched through the indexed `custom_property` table with `id IN (SELECT entity_id ...)`:
one uncorrelated subquery for all the custom comparisons of one OR (a UNION) or of one AND (an
INTERSECT), run once per statement, so the cost grows linearly with the number of comparisons.

User text only ever reaches the database as bound parameters. Input size, parenthesis depth, number of
comparisons and number of literals are capped so that a hostile query fails with InvalidArgument here,
not with a RecursionError or a database "expression too deep / too many variables" error later.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, false, intersect, or_, select, union_all

from modelshelf.domain.entities import Entity, Field, Kind
from modelshelf.errors import InvalidArgument
from modelshelf.store.tables import STRING_KEY_LENGTH, custom_property

MAX_BYTES = 64 * 1024
MAX_DEPTH = 100  # parentheses; bounds the parser's recursion
# AND inside OR inside AND …: SQLite's parser stack overflows at about 32 such levels.
MAX_NESTING = 20
# SQLite parses `a OR b OR …` into a tree deeper than its 1000-level limit at about 1000 terms.
MAX_COMPARISONS = 500
# Bounds bound parameters well under SQLite's 32766 and PostgreSQL's 65535 (a value can bind twice).
MAX_VALUES = 5000
# Custom comparisons per WHERE of the subquery an OR of them compiles to (see _any_owner), and per
# INTERSECT of the subquery an AND of them compiles to (see _every_owner).
_OR_CHUNK = 32
_COMPOUND_CHUNK = 250

_SUFFIXES = {"string_value": "string", "double_value": "double", "int_value": "int", "bool_value": "bool"}
_COLUMN_TYPE = {Kind.ID: "int32", Kind.EPOCH: "int", Kind.INT64: "int", Kind.DOUBLE: "double"}
_TYPE_NAMES = {
    "int32": "a 32-bit integer",
    "int": "an integer",
    "double": "a number",
    "string": "a string",
    "bool": "a boolean",
}
_INT64 = range(-(2**63), 2**63)
_INT32 = range(-(2**31), 2**31)  # id columns: PostgreSQL refuses a wider parameter with an error

_TOKEN = re.compile(
    r"""(?P<skip>\s+|--[^\n]*)
    |(?P<float>[-+]?(?:[0-9]*\.[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+))
    |(?P<int>[-+]?[0-9]+)
    |(?P<ident>[a-zA-Z_][a-zA-Z0-9_]*)
    |(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |(?P<escaped>`(?:[^`\\]|\\.)*`)
    |(?P<op>>=|<=|!=|<>|=|>|<)
    |(?P<punct>[(),.])""",
    re.VERBOSE | re.DOTALL,
)
_STRING_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_DECIMAL = re.compile(r"[-+]?[0-9]{1,25}")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class _Token:
    kind: str  # a group name of _TOKEN, or "end"
    text: str
    pos: int  # 1-based character position, for messages


@dataclass(frozen=True)
class _Value:
    type: str  # "string" | "int" | "float" | "bool"
    value: str | int | float | bool
    text: str  # as written, so a number compared with a string column keeps its spelling


@dataclass(frozen=True)
class _Comparison:
    name: str
    suffix: str | None  # "string" | "int" | "double" | "bool" from an explicit `.xxx_value`
    op: str  # "=" "!=" "<" "<=" ">" ">=" "LIKE" "ILIKE" "IN"
    value: _Value | tuple[_Value, ...]


@dataclass(frozen=True)
class _Junction:
    op: str  # "AND" | "OR"
    items: tuple[_Node, ...]
    depth: int = 1  # levels of AND/OR groups, this one included


_Node = _Comparison | _Junction


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _syntax(message: str) -> InvalidArgument:
    return InvalidArgument(f"invalid filter query syntax: {message}")


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(f"invalid filter query: {message}")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] in "'\"`":
                raise _syntax(f"unterminated quoted text starting at position {pos + 1}")
            raise _syntax(f"unexpected character {text[pos]!r} at position {pos + 1}")
        assert match.lastgroup is not None
        if match.lastgroup != "skip":
            tokens.append(_Token(match.lastgroup, match.group(), pos + 1))
        pos = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.comparisons = 0
        self.values = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def keyword(self, *words: str) -> str | None:
        """The upper-cased keyword at the cursor, consumed, if it is one of `words`."""
        if self.token.kind == "ident" and self.token.text.upper() in words:
            return self.advance().text.upper()
        return None

    def punct(self, char: str) -> bool:
        if self.token.kind == "punct" and self.token.text == char:
            self.index += 1
            return True
        return False

    def fail(self, expected: str) -> InvalidArgument:
        found = "end of query" if self.token.kind == "end" else _show(self.token.text)
        return _syntax(f"expected {expected} at position {self.token.pos}, found {found}")

    def parse(self) -> _Node:
        node = self.junction("OR", 0)
        if self.token.kind != "end":
            raise self.fail("AND, OR or end of query")
        return node

    def junction(self, op: str, depth: int) -> _Node:
        # OR is a flat list of ANDs and AND a flat list of terms, which keeps the compiled SQL shallow.
        items = [self.junction("AND", depth) if op == "OR" else self.term(depth)]
        while self.keyword(op):
            items.append(self.junction("AND", depth) if op == "OR" else self.term(depth))
        if len(items) == 1:
            return items[0]
        # `(a OR b) OR c` is `a OR b OR c`: only alternating groups nest in SQL.
        flat: list[_Node] = []
        for item in items:
            flat.extend(item.items if isinstance(item, _Junction) and item.op == op else (item,))
        nesting = 1 + max((i.depth for i in flat if isinstance(i, _Junction)), default=0)
        if nesting > MAX_NESTING:
            raise _syntax(f"AND/OR groups nested deeper than {MAX_NESTING} levels")
        return _Junction(op, tuple(flat), nesting)

    def term(self, depth: int) -> _Node:
        if self.punct("("):
            if depth >= MAX_DEPTH:
                raise _syntax(f"parentheses nested deeper than {MAX_DEPTH}")
            node = self.junction("OR", depth + 1)
            if not self.punct(")"):
                raise self.fail("')'")
            return node
        return self.comparison()

    def comparison(self) -> _Comparison:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise _syntax(f"more than {MAX_COMPARISONS} comparisons")
        name, suffix = self.property()
        if self.token.kind == "op":
            op = self.advance().text.replace("<>", "!=")
        else:
            op = self.keyword("LIKE", "ILIKE", "IN") or ""
            if not op:
                raise self.fail(f"a comparison operator after {_show(name)}")
        if op == "IN":
            if not self.punct("("):
                raise self.fail("a parenthesised list after IN")
            values: list[_Value] = []
            if not self.punct(")"):
                values.append(self.single(op))
                while self.punct(","):
                    values.append(self.single(op))
                if not self.punct(")"):
                    raise self.fail("',' or ')' in the IN list")
            return _Comparison(name, suffix, op, tuple(values))
        if self.token.kind == "punct" and self.token.text == "(":
            raise _syntax(f"{op} needs a single value, not a list, at position {self.token.pos}")
        value = self.single(op)
        if op in ("LIKE", "ILIKE") and value.type != "string":
            raise _syntax(f"{op} needs a quoted string pattern, found {_show(value.text)}")
        return _Comparison(name, suffix, op, value)

    def property(self) -> tuple[str, str | None]:
        if self.token.kind == "escaped":
            # `\`` is unescaped too (not in the upstream list), else a key with a backtick is unwritable.
            return _unescape(self.advance().text[1:-1], ".`"), None
        if self.token.kind != "ident":
            raise self.fail("a property name")
        parts = [self.advance().text]
        while self.punct("."):
            if self.token.kind != "ident":
                raise self.fail("a name after '.'")
            parts.append(self.advance().text)
        if len(parts) > 1 and parts[-1].lower() in _SUFFIXES:
            return ".".join(parts[:-1]), _SUFFIXES[parts.pop().lower()]
        return ".".join(parts), None

    def single(self, op: str) -> _Value:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _syntax(f"more than {MAX_VALUES} values")
        token = self.token
        if token.kind == "string":
            self.advance()
            return _Value("string", _unescape(token.text[1:-1], "'\""), token.text)
        if token.kind == "int":
            self.advance()
            if not _DECIMAL.fullmatch(token.text) or int(token.text) not in _INT64:
                raise _syntax(f"integer {_show(token.text)} out of range at position {token.pos}")
            return _Value("int", int(token.text), token.text)
        if token.kind == "float":
            self.advance()
            number = float(token.text)
            if not math.isfinite(number):
                raise _syntax(f"number {_show(token.text)} out of range at position {token.pos}")
            return _Value("float", number, token.text)
        if self.keyword("TRUE", "FALSE"):
            return _Value("bool", token.text.upper() == "TRUE", token.text)
        if token.kind in ("ident", "escaped"):
            raise _syntax(
                f"unexpected {_show(token.text)} at position {token.pos} after {op}"
                " (did you forget to quote the value?)"
            )
        raise self.fail(f"a value after {op}")


def _unescape(body: str, escapable: str) -> str:
    # Only these escapes are defined; any other backslash pair is kept as written (e.g. `\%` for LIKE).
    return _STRING_ESCAPE.sub(lambda m: m[1] if m[1] in escapable + "\\" else m[0], body)


# A condition on an id column that every row wanted meets (a page ordered by id: the cursor's bound).
IdBound = Callable[[ColumnElement[int]], ColumnElement[bool]]


def compile_filter(
    text: str | None, entity: Entity, table: Table, *, ids: IdBound | None = None
) -> ColumnElement[bool] | None:
    """The WHERE condition for a `filterQuery` over `table` (rows of `entity`); None when there is none.

    A name that is a typed field of `entity` (and has no `.xxx_value` suffix) compares that column;
    anything else is a custom property and matches rows that *have* that property with a value meeting
    the condition. So `p != 'x'` selects rows whose `p` exists and differs: rows without `p` never match
    a condition on it. Raises InvalidArgument on any syntax or type error.

    `ids` is repeated on the custom properties' owner ids, so that the database starts its walk of them
    at a page's cursor too: PostgreSQL does not carry a range on `table.id` over to the joined column,
    and read every match before the cursor (230 ms for a page at depth 900,000 of 1,000,000).
    """
    if text is None or not text.strip():
        return None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise _syntax("the query is not valid Unicode text") from None
    if size > MAX_BYTES:
        raise _syntax(f"the query is longer than {MAX_BYTES} bytes")
    if "\x00" in text:
        raise _syntax("the query contains a NUL character")
    tokens = _tokenize(text)
    if len(tokens) == 1:  # nothing but comments
        return None
    tree = _Parser(tokens).parse()
    if _custom_count(tree, entity) <= CORRELATED_MAX:
        return _compile_correlated(tree, entity, table, ids)
    return _compile(tree, entity, table, ids)


def _custom_count(node: _Node, entity: Entity) -> int:
    if isinstance(node, _Comparison):
        return 0 if _column_field(node, entity) is not None else 1
    return sum(_custom_count(item, entity) for item in node.items)


def _compile_correlated(
    node: _Node, entity: Entity, table: Table, ids: IdBound | None
) -> ColumnElement[bool]:
    """A few custom comparisons: each a correlated EXISTS, an index search per row the database looks at,
    so a page stops as soon as it is full (the sets of _compile are built whole, whatever the page)."""
    if isinstance(node, _Comparison):
        field = _column_field(node, entity)
        if field is not None:
            return _condition(table.c[field.column], _COLUMN_TYPE.get(field.kind, "string"), node)
        owned = custom_property.c.entity_id == table.c.id
        return select(custom_property.c.entity_id).where(owned, _custom(node, table.name, ids)).exists()
    parts = [_compile_correlated(item, entity, table, ids) for item in node.items]
    return and_(*parts) if node.op == "AND" else or_(*parts)


def _compile(node: _Node, entity: Entity, table: Table, ids: IdBound | None) -> ColumnElement[bool]:
    if isinstance(node, _Comparison):
        field = _column_field(node, entity)
        if field is not None:
            return _condition(table.c[field.column], _COLUMN_TYPE.get(field.kind, "string"), node)
        return _any_owner(table, [_custom(node, table.name, ids)])
    # The custom comparisons among one AND's or OR's items become one subquery (see _any_owner).
    custom = [i for i in node.items if isinstance(i, _Comparison) and _column_field(i, entity) is None]
    parts = [_compile(i, entity, table, ids) for i in node.items if not any(i is c for c in custom)]
    conditions = [_custom(c, table.name, ids) for c in custom]
    if node.op == "OR":
        if conditions:
            parts.append(_any_owner(table, conditions))
        return or_(*parts)
    if conditions:
        parts.append(_every_owner(table, conditions))
    return and_(*parts)


def _column_field(node: _Comparison, entity: Entity) -> Field | None:
    """The typed field `node` compares, or None when it names a custom property."""
    field = entity.by_api.get(node.name)
    if field is not None and node.suffix is None and field.kind not in (Kind.PROPS, Kind.STR_LIST):
        return field
    return None


# Why many custom comparisons compile to `id IN (uncorrelated subquery)`, not to a correlated EXISTS each:
# an EXISTS runs once per row and comparison, and SQLite opens a cursor for each run at a cost that grows
# with the cursors already open, so 500 comparisons over 5,000 rows took 53 s (1.9 s with 100). An
# uncorrelated subquery runs once: SQLite materialises it into an ephemeral index, PostgreSQL into a
# hashed SubPlan (under OR) or a semi-join (under AND), and every comparison in it is an index search on
# (entity_table, name, value). The cost is then one probe per row plus one search per comparison.
# Up to CORRELATED_MAX comparisons, the usual case, stay correlated EXISTS (_compile_correlated): their
# cost per row is bounded by that number, and a page of a large table stops at its LIMIT instead of
# building every matching set first (three times the cost of a 20-row page in make bench).
CORRELATED_MAX = 8


def _owners(conditions: list[ColumnElement[bool]]) -> Select[tuple[int]]:
    return select(custom_property.c.entity_id).where(or_(*conditions)).correlate(None)


def _any_owner(table: Table, conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """`table.id` owns a custom property meeting any of `conditions`.

    One WHERE holds at most _OR_CHUNK of them and the chunks are a UNION: SQLite counts the depth of
    `a OR b OR …` inside a subquery against its limit of 1000 about twice, so 500 comparisons of four
    terms each in one WHERE exceed it.
    """
    selects = [_owners(conditions[i : i + _OR_CHUNK]) for i in range(0, len(conditions), _OR_CHUNK)]
    return table.c.id.in_(selects[0] if len(selects) == 1 else union_all(*selects))


def _every_owner(table: Table, conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """`table.id` owns custom properties meeting each of `conditions`: an INTERSECT of their owners.

    Not one `id IN (…)` per condition: PostgreSQL turns each into a semi-join and plans a join of as many
    relations (5 s for 100 comparisons, 33 s for 200), and SQLite probes every one of them per row.
    SQLite allows 500 terms in a compound SELECT, hence the chunks.
    """
    chunks = [conditions[i : i + _COMPOUND_CHUNK] for i in range(0, len(conditions), _COMPOUND_CHUNK)]
    return and_(
        *(
            table.c.id.in_(_owners(chunk) if len(chunk) == 1 else intersect(*(_owners([c]) for c in chunk)))
            for chunk in chunks
        )
    )


def _custom(node: _Comparison, entity_table: str, ids: IdBound | None) -> ColumnElement[bool]:
    """The `custom_property` rows of `entity_table` whose property `node` names meets its condition.

    Each condition names the table itself, not the subquery around it, so every branch of an OR is an
    index search on (entity_table, name, value) on both databases.
    """
    prop = custom_property
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if not values:
        return false()
    wanted = node.suffix or _literal_type(values, node.name)
    condition: ColumnElement[bool]
    if wanted == "int" and node.suffix is None:
        # An integer literal also matches double properties, so `accuracy > 0` finds 0.93.
        as_int, as_double = (
            _condition(prop.c.int_value, "int", node),
            _condition(prop.c.double_value, "double", node),
        )
        condition = or_(as_int, as_double)
    elif wanted == "string" and node.op in ("=", "IN"):
        # Compare the indexed prefix, so the database can use ix_custom_property_string. A string shorter
        # than the prefix equals a stored key only if it equals the whole value, so then the key alone
        # decides; comparing the value as well made PostgreSQL take the two equalities as independent
        # and guess 50 times too few matches, and then sort every match for a deep page.
        strings = [str(_coerce(v, "string", node.name)) for v in values]
        keys = [s[:STRING_KEY_LENGTH] for s in strings]
        condition = prop.c.string_key.in_(keys) if node.op == "IN" else prop.c.string_key == keys[0]
        if any(len(s) >= STRING_KEY_LENGTH for s in strings):
            whole = prop.c.string_value.in_(strings) if node.op == "IN" else prop.c.string_value == strings[0]
            condition = and_(condition, whole)
    else:
        condition = _condition(prop.c[f"{wanted}_value"], wanted, node)
    bound = () if ids is None else (ids(prop.c.entity_id),)
    return and_(prop.c.entity_table == entity_table, prop.c.name == node.name, condition, *bound)


def _literal_type(values: tuple[_Value, ...], name: str) -> str:
    """The custom-property value column a literal (or an IN list) selects."""
    types = {v.type for v in values}
    if types <= {"int"}:
        return "int"
    if types <= {"int", "float"}:
        return "double"
    if len(types) == 1:
        return types.pop()
    raise _invalid(f"the IN list for property {_show(name)} mixes strings, numbers and booleans")


def _condition(column: ColumnElement[Any], wanted: str, node: _Comparison) -> ColumnElement[bool]:
    if isinstance(node.value, tuple):
        if not node.value:
            return false()
        return column.in_([_coerce(v, wanted, node.name) for v in node.value])
    if node.op in ("LIKE", "ILIKE"):
        if wanted != "string":
            raise _invalid(
                f"{node.op} needs a string property, {_show(node.name)} holds {_TYPE_NAMES[wanted]}"
            )
        pattern = str(node.value.value)
        if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
            raise _invalid(f"{node.op} pattern {_show(pattern)} ends with an unfinished '\\' escape")
        # An explicit ESCAPE makes `\%` and `\_` mean a literal % or _ on every database (SQLite has no
        # default escape character). Case: PostgreSQL's LIKE is case-sensitive, but SQLite's LIKE ignores
        # ASCII case and cannot be switched per statement (PRAGMA case_sensitive_like is per connection
        # and deprecated), so on SQLite LIKE behaves like ILIKE for ASCII letters.
        like = column.like if node.op == "LIKE" else column.ilike
        return like(pattern, escape="\\")
    if wanted == "bool" and node.op not in ("=", "!="):
        raise _invalid(f"booleans can only be compared with = or != (property {_show(node.name)})")
    compared: ColumnElement[bool] = _OPS[node.op](column, _coerce(node.value, wanted, node.name))
    return compared


def _coerce(value: _Value, wanted: str, name: str) -> object:
    """`value` as a parameter for a column holding `wanted`, or InvalidArgument naming the property."""
    if wanted == "int32":
        number = _coerce(value, "int", name)
        if number in _INT32:
            return number
        raise _invalid(f"property {_show(name)} holds 32-bit integers, got {_show(value.text)}")
    if wanted == "bool" and value.type == "bool":
        return value.value
    if value.type != "bool":
        if wanted == "string":
            return value.value if value.type == "string" else value.text
        if wanted == "double" and value.type in ("int", "float"):
            return float(value.value)
        if wanted == "int" and value.type == "int":
            return value.value
        if wanted == "int" and value.type == "string":
            text = str(value.value)
            if _DECIMAL.fullmatch(text) and int(text) in _INT64:
                return int(text)
    raise _invalid(f"property {_show(name)} needs {_TYPE_NAMES[wanted]}, got {_show(value.text)}")
