"""Azure SAS signing against Azurite, which checks signatures and expiry (moto does not)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, unquote

import pytest
from azure.storage.blob import BlobServiceClient

from modelshelf.storage import MissingCredentials, ObjectUnavailable
from tests.fixtures.azurite import Azurite
from tests.integration.storage_helpers import closed_port, get, query, signers

CONTAINER = "dvc-remote"
REMOTE = f"azure://{CONTAINER}/azstore"
MANIFEST = b'[{"md5": "7644672d049290f0390d9c993c7d343d", "relpath": "weights.bin"}]' * 20
ODD = "azstore/odd name+ü~%.bin"


@pytest.fixture(scope="module")
def blobs(azurite: Azurite) -> Azurite:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    container.upload_blob("azstore/files/md5/55/bb247c", b"model bytes", overwrite=True)
    container.upload_blob("azstore/files/md5/27/f12287.dir", MANIFEST, overwrite=True)
    container.upload_blob(ODD, b"odd", overwrite=True)
    return azurite


def by_connection_string(azurite: Azurite) -> dict[str, Any]:
    return {"url": f"azure://{CONTAINER}", "connection_string": azurite.connection_string}


def test_sas_url_downloads_the_object_without_credentials(blobs: Azurite) -> None:
    urls = [f"{REMOTE}/files/md5/55/bb247c", f"azure://{CONTAINER}/{ODD}"]
    [url, odd] = signers(by_connection_string(blobs)).sign_many(REMOTE, {}, urls)
    assert url.startswith(f"{blobs.blob_endpoint}/{CONTAINER}/azstore/files/md5/55/bb247c?")
    params = query(url)
    assert params["sp"] == "r"
    assert params["sr"] == "b"
    assert get(url) == (200, b"model bytes")
    assert get(odd) == (200, b"odd")


def test_blob_url_is_the_one_the_sdk_builds(blobs: Azurite) -> None:
    [url] = signers(by_connection_string(blobs)).sign_many(REMOTE, {}, [f"azure://{CONTAINER}/{ODD}"])
    sdk_url = (
        BlobServiceClient.from_connection_string(blobs.connection_string).get_blob_client(CONTAINER, ODD).url
    )
    assert url.split("?")[0] == sdk_url


def test_sas_starts_in_the_past_for_clock_skew_and_expires_as_configured(blobs: Azurite) -> None:
    from datetime import UTC, datetime

    [url] = signers(by_connection_string(blobs), expires_in=600).sign_many(REMOTE, {}, [f"{REMOTE}/x"])
    params = query(url)
    now = datetime.now(UTC).timestamp()
    start = datetime.strptime(params["st"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    expiry = datetime.strptime(params["se"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert 14 * 60 <= now - start <= 16 * 60
    assert 590 <= expiry - now <= 610


def test_account_name_and_key_with_an_endpoint(blobs: Azurite) -> None:
    entry = {
        "url": f"azure://{CONTAINER}/azstore",
        "account_name": blobs.account_name,
        "account_key": blobs.account_key,
        "endpoint_url": blobs.blob_endpoint,
    }
    [url] = signers(entry).sign_many(REMOTE, {}, [f"{REMOTE}/files/md5/55/bb247c"])
    assert get(url) == (200, b"model bytes")


def test_a_tampered_sas_is_refused(blobs: Azurite) -> None:
    [url] = signers(by_connection_string(blobs)).sign_many(REMOTE, {}, [f"{REMOTE}/files/md5/55/bb247c"])
    assert get(url.replace("sp=r", "sp=rw"))[0] == 403
    base, _, raw_query = url.partition("?")
    pairs = [pair.partition("=")[::2] for pair in raw_query.split("&")]
    signature = unquote(dict(pairs)["sig"])
    forged = ("A" if signature[0] != "A" else "B") + signature[1:]
    tampered = "&".join(f"{k}={quote(forged, safe='') if k == 'sig' else v}" for k, v in pairs)
    assert tampered != raw_query
    assert get(f"{base}?{tampered}")[0] == 403
    assert get(url.split("?")[0])[0] in (403, 404)  # anonymous access to a private container


def test_an_expired_sas_is_refused(blobs: Azurite) -> None:
    signer = signers(by_connection_string(blobs)).for_remote(REMOTE, {})
    url = signer.sign(f"{REMOTE}/files/md5/55/bb247c", expires_in=1)
    time.sleep(2.2)
    assert get(url)[0] == 403


def test_the_environment_connection_string_is_the_fallback(
    blobs: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", blobs.connection_string)
    [url] = signers().sign_many(REMOTE, {}, [f"{REMOTE}/files/md5/55/bb247c"])
    assert get(url) == (200, b"model bytes")


def test_no_credentials_is_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(MissingCredentials, match="AZURE_STORAGE_CONNECTION_STRING"):
        signers().for_remote(REMOTE, {})
    # An account name alone needs azure-identity (a user delegation SAS), which the dev venv lacks.
    with pytest.raises(MissingCredentials, match="azure-identity"):
        signers().for_remote(REMOTE, {"account_name": "acme"})


def test_a_connection_string_without_a_key_is_missing_credentials_and_not_echoed() -> None:
    secret = "sv=2024-01-01&sig=SECRETSIGNATURE"
    entry = {
        "url": "azure://c",
        "connection_string": f"BlobEndpoint=https://a.example/;SharedAccessSignature={secret}",
    }
    with pytest.raises(MissingCredentials) as raised:
        signers(entry).for_remote("azure://c/p", {})
    assert "SECRETSIGNATURE" not in str(raised.value)


def test_fetch_reads_a_dir_manifest_within_its_size_limit(blobs: Azurite) -> None:
    signer = signers(by_connection_string(blobs)).for_remote(REMOTE, {})
    url = f"{REMOTE}/files/md5/27/f12287.dir"
    assert signer.fetch(url, max_bytes=len(MANIFEST), timeout=5) == MANIFEST
    with pytest.raises(ObjectUnavailable, match="larger than"):
        signer.fetch(url, max_bytes=len(MANIFEST) - 1, timeout=5)
    with pytest.raises(ObjectUnavailable, match="HTTP 404"):
        signer.fetch(f"{REMOTE}/files/md5/00/missing.dir", max_bytes=1000, timeout=5)


def test_fetch_from_an_unreachable_account_is_unavailable() -> None:
    entry = {
        "url": "azure://c",
        "account_name": "devstoreaccount1",
        "account_key": "a2V5",
        "endpoint_url": closed_port() + "/devstoreaccount1",
    }
    started = time.monotonic()
    with pytest.raises(ObjectUnavailable):
        signers(entry).for_remote("azure://c/p", {}).fetch("azure://c/p/x.dir", max_bytes=10, timeout=2)
    assert time.monotonic() - started < 2.5
