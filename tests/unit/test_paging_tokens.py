"""The Kubeflow face's page tokens and orderBy names, and the typed view of custom property values: the
wire text the face owns, turned into and out of the store's own types."""

from __future__ import annotations

import base64

import pytest

from modelshelf.api.kubeflow import paging
from modelshelf.domain.properties import PropertyValue, property_value
from modelshelf.errors import InvalidArgument
from modelshelf.store.repository import After, SortKey


@pytest.mark.parametrize(
    ("after", "text"),
    [
        (After(2, 2), "2:2"),
        (After(7, 1_700_000_000_123), "7:1700000000123"),
        (After(2**31 - 1, -(2**63)), "2147483647:-9223372036854775808"),
    ],
)
def test_a_token_is_base64_of_id_colon_value_and_decodes_back(after: After, text: str) -> None:
    token = paging.encode_token(after)
    assert base64.b64decode(token).decode() == text  # what the official clients' pagers pass back
    assert paging.decode_token(token) == after


def test_no_cursor_is_the_empty_token_both_ways() -> None:
    assert paging.encode_token(None) == ""
    assert paging.decode_token("") is None


@pytest.mark.parametrize("text", ["0:1", "2147483648:1", "1:9223372036854775808", "1:1:1", " 1:1"])
def test_a_token_no_page_can_end_with_is_refused(text: str) -> None:
    token = base64.b64encode(text.encode()).decode()
    with pytest.raises(InvalidArgument, match=r"^invalid nextPageToken: "):
        paging.decode_token(token)


def test_order_by_names_map_to_the_store_sort_keys() -> None:
    assert [paging.sort_key(name) for name in ("ID", "CREATE_TIME", "LAST_UPDATE_TIME")] == list(SortKey)
    with pytest.raises(InvalidArgument, match="must be one of ID, CREATE_TIME, LAST_UPDATE_TIME"):
        paging.sort_key("id")


@pytest.mark.parametrize(
    ("value", "typed"),
    [
        ({"metadataType": "MetadataStringValue", "string_value": "pt"}, PropertyValue(text="pt")),
        ({"metadataType": "MetadataIntValue", "int_value": "-3"}, PropertyValue(integer=-3)),
        ({"metadataType": "MetadataDoubleValue", "double_value": 0.5}, PropertyValue(double=0.5)),
        ({"metadataType": "MetadataBoolValue", "bool_value": False}, PropertyValue(boolean=False)),
        ({"metadataType": "MetadataStructValue", "struct_value": "e30="}, PropertyValue()),
    ],
)
def test_a_custom_property_is_indexed_by_its_typed_value(
    value: dict[str, object], typed: PropertyValue
) -> None:
    assert property_value(value) == typed
