"""Registered models: create, read, find, update, archive, list."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, V1ALPHA3, error, model, ok, props


@pytest.mark.parametrize("prefix", [V1, V1ALPHA3])
def test_create_answers_201_with_exactly_what_get_returns(client: TestClient, prefix: str) -> None:
    created = model(
        client,
        "fraud",
        prefix,
        description="detects fraud",
        owner="alice",
        externalId="ext-1",
        language=["en", "es"],
        tasks=["classification"],
        customProperties=props(accuracy=0.91, epochs=10, framework="pytorch", validated=True, label=""),
    )
    assert created["id"].isdigit() and created["name"] == "fraud" and created["state"] == "LIVE"
    assert created["createTimeSinceEpoch"] == created["lastUpdateTimeSinceEpoch"]
    assert created["createTimeSinceEpoch"].isdigit()
    assert created["language"] == ["en", "es"] and created["tasks"] == ["classification"]
    assert created["customProperties"]["epochs"] == {"metadataType": "MetadataIntValue", "int_value": "10"}
    assert ok(client.get(f"{prefix}/registered_models/{created['id']}")) == created
    assert ok(client.get(f"{prefix}/registered_model", params={"name": "fraud"})) == created
    assert ok(client.get(f"{prefix}/registered_model", params={"externalId": "ext-1"})) == created


def test_unset_optional_fields_are_omitted_and_custom_properties_always_present(client: TestClient) -> None:
    created = model(client, "bare")
    assert set(created) == {
        "id",
        "name",
        "state",
        "customProperties",
        "createTimeSinceEpoch",
        "lastUpdateTimeSinceEpoch",
    }
    assert created["customProperties"] == {}


def test_duplicate_name_or_external_id_is_a_conflict(client: TestClient) -> None:
    model(client, "dup", externalId="x")
    error(client.post(f"{V1}/registered_models", json={"name": "dup"}), 409, "dup")
    error(
        client.post(f"{V1}/registered_models", json={"name": "other", "externalId": "x"}), 409, "externalId"
    )
    # nothing half-written: still exactly one model
    assert ok(client.get(f"{V1}/registered_models"))["size"] == 1


def test_archived_model_keeps_its_name_reserved(client: TestClient) -> None:
    created = model(client, "old")
    ok(client.patch(f"{V1}/registered_models/{created['id']}", json={"state": "ARCHIVED"}))
    error(client.post(f"{V1}/registered_models", json={"name": "old"}), 409)
    assert ok(client.get(f"{V1}/registered_model", params={"name": "old"}))["state"] == "ARCHIVED"


def test_patch_merges_field_by_field_and_bumps_update_time(client: TestClient) -> None:
    created = model(client, "p", description="before", owner="bob", customProperties=props(a="1", b="2"))
    url = f"{V1}/registered_models/{created['id']}"
    patched = ok(client.patch(url, json={"description": "after"}))
    assert patched["description"] == "after" and patched["owner"] == "bob"
    assert patched["customProperties"] == created["customProperties"]  # absent -> kept
    assert int(patched["lastUpdateTimeSinceEpoch"]) > int(created["lastUpdateTimeSinceEpoch"])
    assert patched["createTimeSinceEpoch"] == created["createTimeSinceEpoch"]
    # customProperties, when sent, replace the whole map
    replaced = ok(client.patch(url, json={"customProperties": props(c=3)}))
    assert replaced["customProperties"] == props(c=3)
    cleared = ok(client.patch(url, json={"customProperties": {}}))
    assert cleared["customProperties"] == {}
    # an empty body still touches the entity
    touched = ok(client.patch(url, json={}))
    assert int(touched["lastUpdateTimeSinceEpoch"]) > int(cleared["lastUpdateTimeSinceEpoch"])
    assert ok(client.get(url)) == touched


def test_omitted_state_keeps_the_stored_one(client: TestClient) -> None:
    created = model(client, "s")
    url = f"{V1}/registered_models/{created['id']}"
    ok(client.patch(url, json={"state": "ARCHIVED"}))
    assert ok(client.patch(url, json={"description": "still archived"}))["state"] == "ARCHIVED"
    assert ok(client.patch(url, json={"state": "LIVE"}))["state"] == "LIVE"


def test_rapid_updates_strictly_increase_update_time(client: TestClient) -> None:
    ids = [model(client, f"r{i}")["id"] for i in range(5)]
    stamps = [
        int(ok(client.patch(f"{V1}/registered_models/{i}", json={}))["lastUpdateTimeSinceEpoch"]) for i in ids
    ]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    listed = ok(
        client.get(f"{V1}/registered_models", params={"orderBy": "LAST_UPDATE_TIME", "sortOrder": "DESC"})
    )
    assert [m["id"] for m in listed["items"]] == list(reversed(ids))


def test_fields_outside_the_update_schema_are_rejected(client: TestClient) -> None:
    created = model(client, "immutable")
    url = f"{V1}/registered_models/{created['id']}"
    for field, value in [("name", "new"), ("id", "9"), ("createTimeSinceEpoch", "1"), ("bogus", 1)]:
        error(client.patch(url, json={field: value}), 400, f'unknown field "{field}"')
    assert ok(client.get(url)) == created


def test_find_is_exact_and_needs_a_parameter(client: TestClient) -> None:
    model(client, "a_b")
    model(client, "axb")
    assert ok(client.get(f"{V1}/registered_model", params={"name": "a_b"}))["name"] == "a_b"
    error(client.get(f"{V1}/registered_model", params={"name": "a%"}), 404)
    error(client.get(f"{V1}/registered_model", params={"name": "missing"}), 404, "missing")
    error(client.get(f"{V1}/registered_model"), 400, "name or externalId")


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    error(client.get(f"{V1}/registered_models/12345"), 404, "12345")
    for bad in ["abc", "0", "-1", "2147483648", "99999999999999999999", "1.5"]:
        error(client.get(f"{V1}/registered_models/{bad}"), 400)
        error(client.patch(f"{V1}/registered_models/{bad}", json={}), 400)


def test_missing_or_empty_name_is_422(client: TestClient) -> None:
    body = error(client.post(f"{V1}/registered_models", json={}), 422, "name")
    assert body["code"] == "Bad Request"
    error(client.post(f"{V1}/registered_models", json={"name": ""}), 422)


def test_unknown_field_message_matches_upstream(client: TestClient) -> None:
    body = error(
        client.post(f"{V1ALPHA3}/registered_models", json={"name": "test_model", "ext_id": 123}), 400
    )
    assert body == {"code": "Bad Request", "message": 'json: unknown field "ext_id"'}


def test_name_length_limit(client: TestClient) -> None:
    model(client, "n" * 255)
    error(client.post(f"{V1}/registered_models", json={"name": "n" * 256}), 400, "255")


def test_both_prefixes_share_one_registry(client: TestClient) -> None:
    created = model(client, "shared", V1ALPHA3)
    assert ok(client.get(f"{V1}/registered_models/{created['id']}")) == created


# `logo` and `licenseLink` are `format: uri` in both published specs: an absolute RFC 3986 URI.
URIS = [
    "https://www.apache.org/licenses/LICENSE-2.0",
    "http://[::1]:8080/license?lang=en#section-2",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    "urn:spdx:Apache-2.0",
    "s3://bucket/licenses/LICENSE%20v2.txt",
]
NOT_URIS = [
    "",
    " ",
    "LICENSE",
    "www.apache.org/licenses/LICENSE-2.0",  # no scheme
    "/licenses/LICENSE-2.0",  # a reference, not a URI
    "https://example.com/my license",  # a space
    " https://example.com/LICENSE",
    "https://example.com/lizenz-für-alle",  # an IRI: non-ASCII must be percent-encoded
    "https://example.com/100%",  # a bad percent-encoding
    "https://example.com/a#b#c",
    "http://[::1/license",
    "1https://example.com",
]


@pytest.mark.parametrize("prefix", [V1, V1ALPHA3])
@pytest.mark.parametrize("name", ["licenseLink", "logo"])
def test_uri_fields_take_absolute_uris_on_create_and_update(
    client: TestClient, prefix: str, name: str
) -> None:
    created = model(client, "with-uris", prefix, **{name: URIS[0]})
    assert created[name] == URIS[0]
    for uri in URIS[1:]:
        patched = ok(client.patch(f"{prefix}/registered_models/{created['id']}", json={name: uri}))
        assert patched[name] == uri
        assert ok(client.get(f"{prefix}/registered_models/{created['id']}"))[name] == uri


@pytest.mark.parametrize("prefix", [V1, V1ALPHA3])
@pytest.mark.parametrize("name", ["licenseLink", "logo"])
def test_uri_fields_reject_what_is_not_an_absolute_uri(client: TestClient, prefix: str, name: str) -> None:
    stored = model(client, "kept", prefix, **{name: URIS[0]})
    for index, value in enumerate(NOT_URIS):
        body = {"name": f"rejected-{index}", name: value}
        error(client.post(f"{prefix}/registered_models", json=body), 400, name, "absolute URI")
        patch = client.patch(f"{prefix}/registered_models/{stored['id']}", json={name: value})
        error(patch, 400, name, "absolute URI")
    assert ok(client.get(f"{prefix}/registered_models/{stored['id']}"))[name] == URIS[0]
    assert [m["name"] for m in ok(client.get(f"{prefix}/registered_models"))["items"]] == ["kept"]
