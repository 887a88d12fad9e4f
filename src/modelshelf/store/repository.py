"""All SQL of the registry. Functions take an open connection and never commit: the edge does, once."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, RowMapping, Table, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from modelshelf.domain.entities import Entity
from modelshelf.errors import Conflict, InvalidArgument
from modelshelf.store import tables
from modelshelf.store.filterquery import compile_filter
from modelshelf.store.tables import STRING_KEY_LENGTH, custom_property, model_version_artifact

ORDER_COLUMNS = {"ID": "id", "CREATE_TIME": "create_time", "LAST_UPDATE_TIME": "last_update_time"}
MAX_TOKEN_LENGTH = 1024
INT32_MAX = 2**31 - 1


def table_of(entity: Entity) -> Table:
    return tables.BY_NAME[entity.table]


def _scope(entity: Entity, table: Table) -> list[ColumnElement[bool]]:
    """Artifacts of all types share one table; a typed entity only sees its own rows."""
    if entity.artifact_type is not None and entity.table == "artifact":
        return [table.c.artifact_type == entity.artifact_type]
    return []


def get(conn: Connection, entity: Entity | Table, id_: int) -> RowMapping | None:
    """Fetch one row by id; an `Entity` restricts artifacts to its type, a `Table` takes any row."""
    if isinstance(entity, Table):
        table, scope = entity, []
    else:
        table = table_of(entity)
        scope = _scope(entity, table)
    return conn.execute(select(table).where(table.c.id == id_, *scope)).mappings().first()


def exists(conn: Connection, table: Table, id_: int) -> bool:
    return conn.execute(select(table.c.id).where(table.c.id == id_)).first() is not None


def insert_row(conn: Connection, table: Table, values: Mapping[str, Any]) -> int:
    with _conflicts_as_errors(table):
        result = conn.execute(insert(table).values(**values).returning(table.c.id))
    new_id = int(result.scalar_one())
    if new_id > INT32_MAX:
        # Ids are int32 on the wire; refuse rather than hand out an id no client can send back.
        raise InvalidArgument(f"{table.name} id space exhausted")
    return new_id


def update_row(conn: Connection, table: Table, id_: int, values: Mapping[str, Any]) -> None:
    with _conflicts_as_errors(table):
        conn.execute(update(table).where(table.c.id == id_).values(**values))


class _conflicts_as_errors:
    """Turn a unique-constraint violation that slipped past the explicit checks (a race) into a 409."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, IntegrityError):
            raise Conflict(f"{self.table.name.replace('_', ' ')} conflicts with an existing one") from exc


def replace_properties(conn: Connection, table: str, id_: int, properties: Mapping[str, Any]) -> None:
    """Rewrite the filter index of one entity's custom properties (the wire map itself lives on the row)."""
    conn.execute(
        delete(custom_property).where(
            custom_property.c.entity_table == table, custom_property.c.entity_id == id_
        )
    )
    rows = [_property_row(table, id_, name, value) for name, value in properties.items()]
    if rows:
        conn.execute(insert(custom_property), rows)


def _property_row(table: str, id_: int, name: str, value: Mapping[str, Any]) -> dict[str, Any]:
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
    kind = value.get("metadataType")
    if kind == "MetadataStringValue":
        row["string_value"] = value["string_value"]
        row["string_key"] = value["string_value"][:STRING_KEY_LENGTH]
    elif kind == "MetadataIntValue":
        row["int_value"] = int(value["int_value"])
    elif kind == "MetadataDoubleValue":
        row["double_value"] = float(value["double_value"])
    elif kind == "MetadataBoolValue":
        row["bool_value"] = bool(value["bool_value"])
    return row


def find(
    conn: Connection, entity: Entity, where: Mapping[str, Any], model_version_id: int | None = None
) -> list[RowMapping]:
    """Rows whose columns equal `where` exactly (at most two: the caller only needs "one" or "several")."""
    table = table_of(entity)
    query = select(table).where(*_scope(entity, table), *(table.c[c] == v for c, v in where.items()))
    if model_version_id is not None:
        query = query.where(table.c.id.in_(_linked_artifacts(model_version_id)))
    return list(conn.execute(query.limit(2)).mappings())


def find_in_table(conn: Connection, table: Table, where: Mapping[str, Any]) -> list[RowMapping]:
    query = select(table).where(*(table.c[c] == v for c, v in where.items())).limit(2)
    return list(conn.execute(query).mappings())


def _linked_artifacts(model_version_id: int) -> Any:
    return select(model_version_artifact.c.artifact_id).where(
        model_version_artifact.c.model_version_id == model_version_id
    )


def link_artifact(conn: Connection, model_version_id: int, artifact: RowMapping) -> None:
    linked = conn.execute(
        select(model_version_artifact.c.artifact_id).where(
            model_version_artifact.c.model_version_id == model_version_id,
            model_version_artifact.c.artifact_id == artifact["id"],
        )
    ).first()
    if linked is not None:
        return
    clash = conn.execute(
        select(model_version_artifact.c.artifact_id).where(
            model_version_artifact.c.model_version_id == model_version_id,
            model_version_artifact.c.artifact_type == artifact["artifact_type"],
            model_version_artifact.c.name == artifact["name"],
        )
    ).first()
    if clash is not None:
        raise Conflict(
            f"{artifact['artifact_type']} with name {artifact['name']!r} already exists "
            f"in model version {model_version_id}"
        )
    with _conflicts_as_errors(model_version_artifact):
        conn.execute(
            insert(model_version_artifact).values(
                model_version_id=model_version_id,
                artifact_id=artifact["id"],
                artifact_type=artifact["artifact_type"],
                name=artifact["name"],
            )
        )


def linked_artifact_by_name(
    conn: Connection, model_version_id: int, artifact_type: str, name: str
) -> RowMapping | None:
    table = tables.artifact
    query = select(table).join(model_version_artifact, model_version_artifact.c.artifact_id == table.c.id)
    query = query.where(
        model_version_artifact.c.model_version_id == model_version_id,
        model_version_artifact.c.artifact_type == artifact_type,
        model_version_artifact.c.name == name,
    )
    return conn.execute(query).mappings().first()


def latest(conn: Connection, table: Table, **where: Any) -> RowMapping | None:
    query = select(table).where(*(table.c[c] == v for c, v in where.items()))
    return (
        conn.execute(query.order_by(table.c.create_time.desc(), table.c.id.desc()).limit(1))
        .mappings()
        .first()
    )


# --- listing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    filter_query: str | None = None
    order_by: str = "ID"  # ID | CREATE_TIME | LAST_UPDATE_TIME
    descending: bool = False
    page_size: int = 0  # 0: no limit
    page_token: str = ""
    where: Mapping[str, Any] = field(default_factory=dict)  # column -> exact value
    model_version_id: int | None = None  # only artifacts linked to this version


@dataclass(frozen=True)
class Page:
    rows: Sequence[RowMapping]
    next_page_token: str


def list_page(
    conn: Connection, entity: Entity, query: ListQuery, *, filter_entity: Entity | None = None
) -> Page:
    """One page in the order asked, continuing after the row named by the token.

    The token names the boundary row (`base64("<id>:<order value>")`), so it is the same every time the
    same row ends a page; an empty token is the first page. The Kubeflow client's pager relies on both.
    """
    table = table_of(entity)
    column = table.c[ORDER_COLUMNS.get(query.order_by, "id")]
    conditions: list[ColumnElement[bool]] = [*_scope(entity, table)]
    conditions += [table.c[c] == v for c, v in query.where.items()]
    if query.model_version_id is not None:
        conditions.append(table.c.id.in_(_linked_artifacts(query.model_version_id)))
    compiled = compile_filter(query.filter_query, filter_entity or entity, table)
    if compiled is not None:
        conditions.append(compiled)
    if query.page_token:
        cursor_id, cursor_value = decode_token(query.page_token)
        if query.descending:
            conditions.append(
                or_(column < cursor_value, and_(column == cursor_value, table.c.id < cursor_id))
            )
        else:
            conditions.append(
                or_(column > cursor_value, and_(column == cursor_value, table.c.id > cursor_id))
            )
    order = (column.desc(), table.c.id.desc()) if query.descending else (column.asc(), table.c.id.asc())
    statement = select(table).where(*conditions).order_by(*order)
    if query.page_size > 0:
        statement = statement.limit(query.page_size + 1)
    rows = list(conn.execute(statement).mappings())
    if query.page_size > 0 and len(rows) > query.page_size:
        rows = rows[: query.page_size]
        last = rows[-1]
        return Page(rows, encode_token(last["id"], last[column.name]))
    return Page(rows, "")


def encode_token(id_: int, value: int) -> str:
    return base64.b64encode(f"{id_}:{value}".encode()).decode()


def decode_token(token: str) -> tuple[int, int]:
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise ValueError("too long")
        id_text, _, value_text = base64.b64decode(token, validate=True).decode().partition(":")
        return int(id_text), int(value_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(f"invalid nextPageToken: {token[:64]!r}") from None


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
