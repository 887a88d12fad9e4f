"""All SQL of the registry's entities. Functions take an open connection and never commit: the edge does,
once.

Entity rows are plain mappings from column name to value (`Row`), not a class per entity: one table of
entities (domain.entities) drives the generic create, update, find, list and render code, and a mapping
is what that code indexes by column name. Fixed shapes that other layers read field by field (users,
teams, tokens, audit events) are typed rows in store.accounts and store.audit.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Dialect,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelshelf.domain.entities import INT32_MAX, Entity
from modelshelf.domain.properties import PropertyValue
from modelshelf.errors import Conflict, InvalidArgument
from modelshelf.store import tables
from modelshelf.store.filterquery import IdBound, compile_filter
from modelshelf.store.session import Session
from modelshelf.store.tables import (
    STRING_KEY_LENGTH,
    custom_property,
    experiment_run_artifact,
    model_version_artifact,
)

Row = dict[str, Any]


def table_of(entity: Entity) -> Table:
    return tables.BY_NAME[entity.table]


def _scope(entity: Entity, table: Table) -> list[ColumnElement[bool]]:
    """Artifacts of all types share one table; a typed entity only sees its own rows."""
    if entity.artifact_type is not None and entity.table == "artifact":
        return [table.c.artifact_type == entity.artifact_type]
    return []


# --- hot reads ---------------------------------------------------------------------------------------

# Per (dialect, query shape): SQL text, the order of positional parameters, and default parameter values.
_COMPILED: dict[tuple[str, Hashable], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def _fetch(
    conn: Session, key: Hashable, build: Callable[[], Select[Any]], params: Mapping[str, Any]
) -> list[Row]:
    """Run a SELECT of a fixed shape, compiled once per dialect.

    Gets by id and finds by name are the hottest requests. Building the statement and computing its
    cache key on every call cost more than the query itself on SQLite; compiled once, the statement is
    sent as its SQL text with the request's parameters.
    """
    names, rows = _execute_compiled(conn, key, build, params)
    return [dict(zip(names, row, strict=True)) for row in rows]


def fetch_first_compiled(
    conn: Session, key: Hashable, build: Callable[[], Select[Any]], params: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """The first row of a fixed-shape SELECT as a plain tuple (for the token lookup, which runs before
    every authenticated request)."""
    _, rows = _execute_compiled(conn, key, build, params)
    return tuple(rows[0]) if rows else None


def _execute_compiled(
    conn: Session, key: Hashable, build: Callable[[], Select[Any]], params: Mapping[str, Any]
) -> tuple[list[str], list[Any]]:
    """Column names and rows of a compiled fixed-shape SELECT, on the session's connection.

    On SQLite the statement runs on that connection's driver cursor: SQLAlchemy's result machinery costs
    four times the query itself there (51 of 65 µs for a get by id, profiled), and a local file has no
    disconnects for SQLAlchemy to handle. On PostgreSQL it goes through SQLAlchemy, whose disconnect
    handling (invalidating every pooled connection the server dropped) matters more than those
    microseconds next to a network round trip.
    """
    sql, args = _compiled(conn.dialect, key, build, params)
    if conn.dialect.name != "sqlite":
        result = conn.sql.exec_driver_sql(sql, args)
        return list(result.keys()), list(result.all())
    cursor = conn.sql.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, args)
        return [d[0] for d in cursor.description], cursor.fetchall()
    finally:
        cursor.close()


def _compiled(
    dialect: Dialect, key: Hashable, build: Callable[[], Select[Any]], params: Mapping[str, Any]
) -> tuple[str, Any]:
    """The SQL text of a fixed-shape SELECT for this dialect (compiled once) and its driver arguments."""
    compiled = _COMPILED.get((dialect.name, key))
    if compiled is None:
        statement = build().compile(dialect=dialect)
        order = tuple(statement.positiontup or ()) if statement.positional else None
        compiled = _COMPILED[(dialect.name, key)] = (str(statement), order, dict(statement.params))
    sql, order, defaults = compiled
    values = {**defaults, **params} if defaults else params
    return sql, dict(values) if order is None else tuple([values[name] for name in order])


def get(conn: Session, entity: Entity | Table, id_: int) -> Row | None:
    """Fetch one row by id; an `Entity` restricts artifacts to its type, a `Table` takes any row."""
    table = entity if isinstance(entity, Table) else table_of(entity)
    scope = [] if isinstance(entity, Table) else _scope(entity, table)
    artifact_type = entity.artifact_type if isinstance(entity, Entity) else None
    rows = _fetch(
        conn,
        ("get", table.name, artifact_type),
        lambda: select(table).where(table.c.id == bindparam("id"), *scope),
        {"id": id_},
    )
    return rows[0] if rows else None


def find(
    conn: Session, entity: Entity, where: Mapping[str, Any], model_version_id: int | None = None
) -> list[Row]:
    """Rows whose columns equal `where` exactly (at most two: the caller only needs "one" or "several")."""
    table = table_of(entity)
    columns = tuple(sorted(where))
    linked = model_version_id is not None

    def build() -> Select[Any]:
        query = select(table).where(*_scope(entity, table), *(table.c[c] == bindparam(c) for c in columns))
        if linked:
            query = query.where(table.c.id.in_(_linked_artifacts(bindparam("model_version_id"))))
        return query.limit(2)

    params = {**where, "model_version_id": model_version_id} if linked else where
    return _fetch(conn, ("find", table.name, entity.artifact_type, columns, linked), build, params)


# --- writes ------------------------------------------------------------------------------------------


class UniqueViolation(Exception):
    """A unique constraint refused a write; `column` says which one (`name` or `external_id`)."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


@contextmanager
def _unique_violations() -> Iterator[None]:
    """Unique constraints are the uniqueness check (no SELECT first, and no race); say what they refused."""
    try:
        yield
    except IntegrityError as exc:
        raise UniqueViolation(
            "external_id" if "external_id" in _violated_constraint(exc) else "name"
        ) from exc


def _violated_constraint(exc: IntegrityError) -> str:
    """PostgreSQL names the constraint (uq_<table>_<columns>); SQLite lists "table.column, ..." after a colon.

    Never the whole message: PostgreSQL's includes the offending value, which may contain anything.
    """
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    if constraint:
        return str(constraint)
    return str(exc.orig).partition("UNIQUE constraint failed:")[2]


@contextmanager
def savepoint(conn: Session) -> Iterator[None]:
    """A write that may be refused without ending the transaction (PostgreSQL aborts a transaction at its
    first error): rolled back to the savepoint when the block raises."""
    with conn.sql.begin_nested():
        yield


def later_than_stored(table: Table, now: int) -> ColumnElement[int]:
    """`now`, or one past the stored update time if that is not earlier: a stamp that always moves
    forward, even when another process stamped the row a moment ago with a clock slightly ahead."""
    return case((table.c.last_update_time >= now, table.c.last_update_time + 1), else_=now)


_INSERTS: dict[str, Any] = {}


def _inserting(table: Table) -> Any:
    """`INSERT ... RETURNING *` for a table, built once: the values go in as parameters. Building the
    statement with `.values(**values)` per call makes SQLAlchemy compute a cache key over every value,
    which cost more than the INSERT itself."""
    statement = _INSERTS.get(table.name)
    if statement is None:
        statement = _INSERTS[table.name] = insert(table).returning(*table.c)
    return statement


def insert_row(conn: Session, table: Table, values: Mapping[str, Any]) -> Row:
    """Insert and return the stored row (RETURNING: no second query)."""
    with _unique_violations():
        row = dict(conn.sql.execute(_inserting(table), dict(values)).mappings().one())
    if isinstance(row["id"], int) and row["id"] > INT32_MAX:
        # Ids are int32 on the wire; refuse rather than hand out an id no client can send back.
        raise InvalidArgument(f"{table.name} id space exhausted")
    return row


def update_row(conn: Session, table: Table, id_: int, values: Mapping[str, Any]) -> Row:
    with _unique_violations():
        statement = update(table).where(table.c.id == id_).values(**values).returning(*table.c)
        return dict(conn.sql.execute(statement).mappings().one())


def replace_properties(
    conn: Session, table: str, id_: int, properties: Mapping[str, PropertyValue], *, new: bool = False
) -> None:
    """Rewrite the filter index of one entity's custom properties (the map itself lives on the row)."""
    if not new:
        conn.sql.execute(
            delete(custom_property).where(
                custom_property.c.entity_table == table, custom_property.c.entity_id == id_
            )
        )
    rows = property_rows(table, id_, properties)
    if rows:
        conn.sql.execute(insert(custom_property), rows)


def property_rows(table: str, id_: int, properties: Mapping[str, PropertyValue]) -> list[dict[str, Any]]:
    """The `custom_property` rows that index one entity's properties (the bulk loader writes them too)."""
    return [_property_row(table, id_, name, value) for name, value in properties.items()]


def _property_row(table: str, id_: int, name: str, value: PropertyValue) -> dict[str, Any]:
    return {
        "entity_table": table,
        "entity_id": id_,
        "name": name,
        "string_value": value.text,
        # Equality on a string is looked up through an index on its first characters.
        "string_key": None if value.text is None else value.text[:STRING_KEY_LENGTH],
        "int_value": value.integer,
        "double_value": value.double,
        "bool_value": value.boolean,
    }


# --- artifacts in model versions and experiment runs ---------------------------------------------------

# What an artifact may be linked to: the link table, and its column naming the owner.
OWNERS: dict[str, tuple[Table, Any]] = {
    "model version": (model_version_artifact, model_version_artifact.c.model_version_id),
    "experiment run": (experiment_run_artifact, experiment_run_artifact.c.experiment_run_id),
}


def _linked_artifacts(owner_id: Any, owner: str = "model version") -> Any:
    link, column = OWNERS[owner]
    return select(link.c.artifact_id).where(column == owner_id)


def link_artifact(
    conn: Session, owner_id: int, artifact: Row, *, new: bool = False, owner: str = "model version"
) -> None:
    """Link an artifact to a version or a run, where its name must be free among the artifacts of its type."""
    link, column = OWNERS[owner]
    if not new and _is_linked(conn, owner_id, artifact["id"], owner):
        return
    try:
        conn.sql.execute(
            insert(link).values(
                {
                    column.name: owner_id,
                    "artifact_id": artifact["id"],
                    "artifact_type": artifact["artifact_type"],
                    "name": artifact["name"],
                }
            )
        )
    except IntegrityError as exc:
        raise Conflict(
            f"{artifact['artifact_type']} with name {artifact['name']!r} already exists in {owner} {owner_id}"
        ) from exc


def _is_linked(conn: Session, owner_id: int, artifact_id: int, owner: str) -> bool:
    link, column = OWNERS[owner]
    query = select(link.c.artifact_id).where(column == owner_id, link.c.artifact_id == artifact_id)
    return conn.sql.execute(query).first() is not None


def linked_artifact_by_name(
    conn: Session, owner_id: int, artifact_type: str, name: str, owner: str = "model version"
) -> Row | None:
    table = tables.artifact
    link, column = OWNERS[owner]
    query = select(table).join(link, link.c.artifact_id == table.c.id)
    query = query.where(column == owner_id, link.c.artifact_type == artifact_type, link.c.name == name)
    row = conn.sql.execute(query).mappings().first()
    return None if row is None else dict(row)


def latest(conn: Session, entity: Entity, **where: Any) -> Row | None:
    """The most recently created row matching `where`."""
    table = table_of(entity)
    query = select(table).where(*(table.c[c] == v for c, v in where.items()))
    row = (
        conn.sql.execute(query.order_by(table.c.create_time.desc(), table.c.id.desc()).limit(1))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


# --- listing -----------------------------------------------------------------------------------------


class SortKey(enum.Enum):
    """The columns a list may be ordered by; the value is the column's name."""

    ID = "id"
    CREATE_TIME = "create_time"
    LAST_UPDATE_TIME = "last_update_time"


@dataclass(frozen=True)
class After:
    """A keyset cursor: the row that ended the previous page, by its id and its value of the sort key."""

    id: int
    value: int


@dataclass(frozen=True)
class ListQuery:
    filter_query: str | None = None
    sort_key: SortKey = SortKey.ID
    descending: bool = False
    page_size: int = 0  # 0: no limit
    after: After | None = None  # None: the first page
    where: Mapping[str, Any] = field(default_factory=dict)  # column -> exact value
    model_version_id: int | None = None  # only artifacts linked to this version
    experiment_run_id: int | None = None  # only artifacts linked to this run
    name_contains: str | None = None  # names with this substring (metric history)
    steps: tuple[int, ...] | None = None  # only these steps (metric history)


@dataclass(frozen=True)
class Page:
    rows: Sequence[Row]
    next: After | None  # where the next page starts; None when this is the last
    page_size: int  # as requested; 0 when the request set no limit


def list_page(
    conn: Session, entity: Entity, query: ListQuery, *, filter_entity: Entity | None = None
) -> Page:
    """One page in the order asked, continuing after the row `query.after` names.

    The cursor names the boundary row, so it is the same every time the same row ends a page (clients'
    pagers rely on it), and a row inserted or updated meanwhile neither repeats nor shifts a page.
    """
    table = table_of(entity)
    column = table.c[query.sort_key.value]
    conditions: list[ColumnElement[bool]] = [*_scope(entity, table)]
    conditions += [table.c[c] == v for c, v in query.where.items()]
    if query.model_version_id is not None:
        conditions.append(table.c.id.in_(_linked_artifacts(query.model_version_id)))
    if query.experiment_run_id is not None:
        conditions.append(table.c.id.in_(_linked_artifacts(query.experiment_run_id, "experiment run")))
    if query.name_contains is not None:
        conditions.append(table.c.name.contains(query.name_contains, autoescape=True))
    if query.steps is not None:
        conditions.append(table.c.step.in_(query.steps))
    ids: IdBound | None = None
    if query.after is not None and column is table.c.id:
        after_id = query.after.id
        ids = (lambda owner: owner < after_id) if query.descending else (lambda owner: owner > after_id)
    compiled = compile_filter(query.filter_query, filter_entity or entity, table, ids=ids)
    if compiled is not None:
        conditions.append(compiled)
    if query.after is not None:
        after_id, after_value = query.after.id, query.after.value
        # The bound on the sort column alone is implied by the OR, but only it lets the database start the
        # index range at the cursor: PostgreSQL otherwise walks the index from its start and filters, so
        # page 9,000 cost 9,000 pages.
        if query.descending:
            conditions.append(column <= after_value)
            conditions.append(or_(column < after_value, and_(column == after_value, table.c.id < after_id)))
        else:
            conditions.append(column >= after_value)
            conditions.append(or_(column > after_value, and_(column == after_value, table.c.id > after_id)))
    keys = [column] if column is table.c.id else [column, table.c.id]  # id breaks ties between equal times
    order = [key.desc() if query.descending else key.asc() for key in keys]
    statement = select(table).where(*conditions).order_by(*order)
    if query.page_size > 0:
        statement = statement.limit(query.page_size + 1)
    rows = [dict(row) for row in conn.sql.execute(statement).mappings()]
    if query.page_size > 0 and len(rows) > query.page_size:
        rows = rows[: query.page_size]
        last = rows[-1]
        return Page(rows, After(last["id"], last[column.name]), query.page_size)
    return Page(rows, None, query.page_size)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
