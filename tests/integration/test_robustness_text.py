"""Robustness of the Kubeflow face: long values and Unicode text.

Long strings and text in any script must be accepted and come back byte for byte, and names that are
equal only after normalization stay different; only names and external ids over 255 characters fail.
"""

from __future__ import annotations

import unicodedata

import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, artifact, model, ok, version
from tests.integration.robustness import INT, STRING, Registry, World

# --- long values ---------------------------------------------------------------------------------------


def test_long_strings_round_trip(client: TestClient, world: World) -> None:
    long_properties = {
        "k" * 255: {"metadataType": STRING, "string_value": "v" * 200_000},
        "short": {"metadataType": STRING, "string_value": "é" * 50_000},
    }
    created = model(
        client,
        "n" * 255,
        description="d" * 300_000,
        externalId="e" * 255,
        readme="r" * 100_000,
        language=["l" * 10_000] * 3,
        customProperties=long_properties,
    )
    assert created["name"] == "n" * 255 and created["externalId"] == "e" * 255
    assert created["customProperties"] == long_properties
    assert ok(client.get(f"{V1}/registered_models/{created['id']}")) == created
    emoji = model(client, "😀" * 255, externalId="é" * 255)  # 255 characters, 1020 and 510 bytes
    assert ok(client.get(f"{V1}/registered_model", params={"name": "😀" * 255})) == emoji
    uri = "s3://bucket/" + "p/" * 50_000
    stored = artifact(client, world["v"], name="long-uri", uri=uri)
    assert ok(client.get(f"{V1}/artifacts/{stored['id']}"))["uri"] == uri


def test_name_or_external_id_longer_than_255_characters_is_rejected(registry: Registry) -> None:
    world = registry.world
    too_long = [
        ("POST", "/registered_models", {}, "name", "n" * 256),
        ("POST", "/registered_models", {"name": "x"}, "externalId", "e" * 256),
        ("POST", "/registered_models", {"name": "x"}, "externalId", "é" * 256),
        ("PATCH", "/registered_models/{m}", {}, "externalId", "e" * 256),
        ("POST", "/serving_environments", {}, "name", "n" * 256),
        ("PATCH", "/serving_environments/{se}", {}, "externalId", "e" * 256),
        ("POST", "/model_versions", {"registeredModelId": "{m}"}, "name", "n" * 256),
        ("POST", "/model_versions", {"registeredModelId": "{m}", "name": "x"}, "externalId", "e" * 256),
        ("PATCH", "/model_versions/{v}", {}, "externalId", "e" * 256),
        ("POST", "/artifacts", {"artifactType": "model-artifact"}, "name", "n" * 256),
        ("POST", "/artifacts", {"artifactType": "doc-artifact"}, "externalId", "e" * 256),
        ("PATCH", "/artifacts/{a}", {"artifactType": "model-artifact"}, "externalId", "e" * 256),
        ("POST", "/model_versions/{v}/artifacts", {"artifactType": "model-artifact"}, "name", "n" * 256),
        (
            "POST",
            "/inference_services",
            {"registeredModelId": "{m}", "servingEnvironmentId": "{se}"},
            "name",
            "n" * 256,
        ),
        ("PATCH", "/inference_services/{svc}", {}, "externalId", "e" * 256),
        ("POST", "/inference_services/{svc}/serves", {"modelVersionId": "{v}"}, "externalId", "e" * 256),
    ]
    for method, path, body, name, value in too_long:
        payload = {k: v.format(**world) for k, v in body.items()} | {name: value}
        registry.rejects(method, V1 + path.format(**world), 400, json=payload)


# --- unicode -----------------------------------------------------------------------------------------------

UNICODE = {
    "chinese": "模型注册表",
    "japanese": "機械学習モデル・カタカナ",
    "korean": "한국어 모델",
    "arabic (RTL)": "نموذج التعلم الآلي",
    "hebrew with bidi marks": "\u200fמודל\u200e-2",  # noqa: RUF001
    "devanagari": "मशीन लर्निंग",
    "emoji": "🤖🚀🔥",
    "emoji sequences": "👩\u200d👩\u200d👧\u200d👦 🇯🇵 👍🏽",
    "astral math": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",  # noqa: RUF001
    "combining marks (NFD)": unicodedata.normalize("NFD", "Crème brûlée"),
    "zero-width and BOM": "a\u200bb\u2060c\ufeffd",
    "mixed scripts": "model-v2 模型 نموذج 🤖",
    "control characters": "tab\there\nnew line\r\x7f\x1b",
    "quotes and backslashes": 'it\'s "quoted" \\ `back`',
}


@pytest.mark.parametrize("text", UNICODE.values(), ids=UNICODE.keys())
def test_unicode_round_trips_exactly_on_a_registered_model(client: TestClient, text: str) -> None:
    key = text.replace("`", "").replace("\\", "")
    created = model(
        client,
        text,
        description=text * 3,
        owner=text,
        externalId=text + "-ext",
        language=[text, "en"],
        tasks=[text],
        customProperties={
            key: {"metadataType": STRING, "string_value": text},
            key + "-int": {"metadataType": INT, "int_value": "7"},
        },
    )
    assert created["name"] == text and created["description"] == text * 3 and created["owner"] == text
    assert created["language"] == [text, "en"] and created["tasks"] == [text]
    assert created["customProperties"][key] == {"metadataType": STRING, "string_value": text}
    url = f"{V1}/registered_models/{created['id']}"
    assert ok(client.get(url)) == created
    assert ok(client.get(f"{V1}/registered_model", params={"name": text})) == created
    assert ok(client.get(f"{V1}/registered_model", params={"externalId": text + "-ext"})) == created
    patched = ok(client.patch(url, json={"description": text[::-1]}))
    assert patched["description"] == text[::-1] and patched["customProperties"] == created["customProperties"]
    if "'" not in text and "\\" not in text:  # a quoted filter literal cannot carry these as they are
        found = ok(client.get(f"{V1}/registered_models", params={"filterQuery": f"name = '{text}'"}))
        assert [item["id"] for item in found["items"]] == [created["id"]]
        by_property = f"`{key}` = '{text}'"
        found = ok(client.get(f"{V1}/registered_models", params={"filterQuery": by_property}))
        assert [item["id"] for item in found["items"]] == [created["id"]]


@pytest.mark.parametrize("text", UNICODE.values(), ids=UNICODE.keys())
def test_unicode_round_trips_exactly_on_every_entity(client: TestClient, text: str) -> None:
    custom = {text: {"metadataType": STRING, "string_value": text}}
    registered = model(client, "m-" + text)
    created_version = version(client, registered["id"], "v-" + text, author=text, customProperties=custom)
    stored = artifact(client, created_version["id"], name="a-" + text, uri=text, customProperties=custom)
    metric = artifact(client, created_version["id"], artifactType="metric", name="μ-" + text, value=1.0)
    env = ok(client.post(f"{V1}/serving_environments", json={"name": "e-" + text, "description": text}), 201)
    service_body = {
        "name": "s-" + text,
        "runtime": text,
        "registeredModelId": registered["id"],
        "servingEnvironmentId": env["id"],
        "customProperties": custom,
    }
    service = ok(client.post(f"{V1}/inference_services", json=service_body), 201)
    serve_body = {"name": "sv-" + text, "modelVersionId": created_version["id"]}
    serve = ok(client.post(f"{V1}/inference_services/{service['id']}/serves", json=serve_body), 201)

    assert created_version["name"] == "v-" + text and created_version["customProperties"] == custom
    assert ok(client.get(f"{V1}/model_versions/{created_version['id']}")) == created_version
    assert stored["name"] == "a-" + text and stored["uri"] == text
    assert ok(client.get(f"{V1}/artifacts/{stored['id']}")) == stored
    assert ok(client.get(f"{V1}/artifacts/{metric['id']}"))["name"] == "μ-" + text
    assert ok(client.get(f"{V1}/serving_environments/{env['id']}")) == env
    assert service["name"] == "s-" + text and service["runtime"] == text
    assert ok(client.get(f"{V1}/inference_services/{service['id']}")) == service
    assert serve["name"] == "sv-" + text
    find = {"name": "v-" + text, "parentResourceId": registered["id"]}
    assert ok(client.get(f"{V1}/model_version", params=find)) == created_version
    find = {"name": "a-" + text, "parentResourceId": created_version["id"]}
    assert ok(client.get(f"{V1}/artifact", params=find)) == stored
    nested = ok(
        client.get(f"{V1}/model_versions/{created_version['id']}/artifacts", params={"name": "a-" + text})
    )
    assert nested["items"] == [stored]


def test_differently_normalized_names_are_different_names(client: TestClient) -> None:
    composed = unicodedata.normalize("NFC", "café")
    decomposed = unicodedata.normalize("NFD", "café")
    assert composed != decomposed
    first = model(client, composed)
    second = model(client, decomposed)
    assert first["id"] != second["id"]
    assert ok(client.get(f"{V1}/registered_model", params={"name": composed}))["id"] == first["id"]
    assert ok(client.get(f"{V1}/registered_model", params={"name": decomposed}))["id"] == second["id"]
