"""Which signer a remote gets: `[[storage]]` matching by longest prefix on a path boundary, the remotes that
cannot be handed out, plain http(s) remotes, GCS V4 URLs checked offline, and a missing SDK."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from modelshelf.errors import RegistryError, Unavailable
from modelshelf.storage import (
    MissingCredentials,
    MissingSdk,
    ObjectUnavailable,
    StorageProblem,
    UnsupportedRemote,
)
from tests.integration.storage_helpers import plain_server, query, signers

ENTRIES = [
    {"url": "s3://acme", "access_key_id": "AKIAACME", "secret_access_key": "a"},
    {"url": "s3://acme/team/", "access_key_id": "AKIATEAM", "secret_access_key": "t"},
    {"url": "s3://acme-models", "access_key_id": "AKIAMODELS", "secret_access_key": "m"},
    {"url": "azure://acme", "connection_string": "AccountName=a;AccountKey=a2V5;"},
]


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("s3://acme", "s3://acme"),
        ("s3://acme/", "s3://acme"),
        ("s3://acme/store", "s3://acme"),
        ("s3://acme/team", "s3://acme/team/"),
        ("s3://acme/team/store", "s3://acme/team/"),
        ("s3://acme/teamwork", "s3://acme"),
        ("s3://acme-models/store", "s3://acme-models"),
        ("s3://acme-modelsx", None),
        ("s3://acm", None),
        ("S3://acme/store", "s3://acme"),
        ("azure://acme/store", "azure://acme"),
        ("gs://acme/store", None),
    ],
)
def test_storage_entry_is_the_longest_prefix_on_a_path_boundary(remote: str, expected: str | None) -> None:
    found = signers(*ENTRIES).storage_entry(remote)
    assert (found.url if found else None) == expected


@pytest.mark.parametrize(
    ("remote", "access_key"),
    [("s3://acme/team/x", "AKIATEAM"), ("s3://acme/x", "AKIAACME"), ("s3://acme-models", "AKIAMODELS")],
)
def test_the_matched_entry_signs(remote: str, access_key: str) -> None:
    [url] = signers(*ENTRIES).sign_many(remote, {}, [f"{remote}/files/md5/ab/cd"])
    assert query(url)["X-Amz-Credential"].startswith(access_key + "/")


@pytest.mark.parametrize(
    ("remote", "options"),
    [
        ("ssh://host/srv/dvc", {}),
        ("hdfs://namenode/dvc", {}),
        ("webdavs://host/dvc", {}),
        ("gdrive://folder-id", {}),
        ("oss://bucket/dvc", {}),
        ("remote://other/sub", {}),
        ("/srv/dvc-storage", {}),
        ("../dvc-storage", {}),
        ("https://host/dvc", {"auth": "basic"}),
        ("https://host/dvc", {"custom_auth_header": "X-Token"}),
        ("http://host/dvc", {"user": "me"}),
        ("s3://acme/store", {"version_aware": "true"}),
        ("s3://", {}),
    ],
)
def test_remotes_that_cannot_be_handed_out_are_unsupported(remote: str, options: dict[str, str]) -> None:
    with pytest.raises(UnsupportedRemote) as raised:
        signers(*ENTRIES).for_remote(remote, options)
    assert isinstance(raised.value, StorageProblem)
    assert isinstance(raised.value, RegistryError)


@pytest.mark.parametrize("options", [{"endpointurl": "not a url"}, {"region": "us east 1"}])
def test_a_remote_configuration_the_sdk_refuses_is_unsupported_not_a_crash(options: dict[str, str]) -> None:
    """The endpoint and region may come from the repository's .dvc/config: bad ones are the repository's
    problem (422), remembered for a while, never an exception from the SDK."""
    chosen = signers(*ENTRIES)
    for _ in range(2):
        with pytest.raises(UnsupportedRemote) as raised:
            chosen.sign_many("s3://acme/store", options, ["s3://acme/store/files/md5/ab/cd"])
        assert "cannot use the remote" in str(raised.value)


def test_a_signer_is_ready_for_the_event_loop_only_once_built_and_offline() -> None:
    chosen = signers(*ENTRIES)
    assert chosen.ready("s3://acme/store", {}) is None
    built = chosen.for_remote("s3://acme/store", {})
    assert chosen.ready("s3://acme/store", {}) is built and built.offline
    assert chosen.ready("s3://acme/store", {"region": "eu-west-1"}) is None


def test_storage_problems_and_unavailable_objects_are_domain_errors() -> None:
    assert issubclass(MissingCredentials, StorageProblem)
    assert issubclass(MissingSdk, StorageProblem)
    assert issubclass(ObjectUnavailable, Unavailable)


def test_plain_remote_urls_are_unsigned_and_fetched(tmp_path: Path) -> None:
    manifest = b'[{"md5": "7644672d049290f0390d9c993c7d343d", "relpath": "weights.bin"}]'
    with plain_server({"/dvc/files/md5/27/f12287.dir": manifest}) as origin:
        signer = signers().for_remote(f"{origin}/dvc", {"ssl_verify": "false"})
        url = f"{origin}/dvc/files/md5/27/f12287.dir"
        assert signer.sign(url, expires_in=3600) == url
        assert signer.fetch(url, max_bytes=1000, timeout=5) == manifest
        # The remote itself may redirect (DVC's client follows redirects too).
        moved = signers().for_remote(f"{origin}/moved/dvc", {})
        assert (
            moved.fetch(f"{origin}/moved/dvc/files/md5/27/f12287.dir", max_bytes=1000, timeout=5) == manifest
        )
        with pytest.raises(ObjectUnavailable, match="HTTP 404"):
            signer.fetch(f"{origin}/dvc/files/md5/00/none.dir", max_bytes=1000, timeout=5)
    with pytest.raises(ValueError, match="not an object of the remote"):
        signer.sign("https://elsewhere/dvc/x", expires_in=3600)


def test_signers_are_built_once_per_configuration_across_threads() -> None:
    chosen = signers(*ENTRIES)
    found: list[object] = []
    threads = [
        threading.Thread(target=lambda: found.append(chosen.for_remote("s3://acme/x", {}))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(signer) for signer in found}) == 1
    assert chosen.for_remote("s3://acme/x", {"region": "eu-west-1"}) is not found[0]


def test_a_missing_sdk_says_which_extra_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` raise ImportError
    with pytest.raises(MissingSdk, match=r"pip install 'modelshelf\[s3\]'"):
        signers(*ENTRIES).for_remote("s3://acme/x", {})


# --- Google Cloud Storage: V4 URLs verified with the service account's public key --------------------------


@pytest.fixture(scope="module")
def service_account(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "acme",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "signer@acme.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path_factory.mktemp("gcs") / "service-account.json"
    path.write_text(json.dumps(info))
    return path, key.public_key()


def _verify_v4(url: str, public_key: Any) -> None:
    """Rebuild the canonical request from the URL (GCS V4 rules) and check the RSA signature over it."""
    parts = urlsplit(url)
    pairs = [pair.partition("=")[::2] for pair in parts.query.split("&")]
    signature = dict(pairs).pop("X-Goog-Signature")
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(p for p in pairs if p[0] != "X-Goog-Signature"))
    params = query(url)
    canonical = f"GET\n{parts.path}\n{canonical_query}\nhost:{parts.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        ["GOOG4-RSA-SHA256", params["X-Goog-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    public_key.verify(bytes.fromhex(signature), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_gcs_v4_url_verifies_with_the_public_key(service_account: tuple[Path, Any]) -> None:
    path, public_key = service_account
    remote = "gs://acme-gcs/store"
    chosen = signers({"url": "gs://acme-gcs", "credentials_file": str(path)}, expires_in=1800)
    [url, odd] = chosen.sign_many(remote, {}, [f"{remote}/files/md5/ab/cdef", f"{remote}/a b+ü.bin"])
    assert url.startswith("https://storage.googleapis.com/acme-gcs/store/files/md5/ab/cdef?")
    params = query(url)
    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert params["X-Goog-Expires"] == "1800"
    assert params["X-Goog-Credential"].startswith("signer@acme.iam.gserviceaccount.com/")
    _verify_v4(url, public_key)
    _verify_v4(odd, public_key)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(InvalidSignature):
        _verify_v4(url, other)


def test_gcs_endpoint_for_an_emulator(service_account: tuple[Path, Any]) -> None:
    path, public_key = service_account
    entry = {"url": "gs://acme-gcs", "credentials_file": str(path), "endpoint_url": "http://127.0.0.1:4443"}
    [url] = signers(entry).sign_many("gs://acme-gcs", {}, ["gs://acme-gcs/k"])
    assert url.startswith("http://127.0.0.1:4443/acme-gcs/k?")
    _verify_v4(url, public_key)


def test_gcs_without_credentials_is_missing_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud user credentials
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server probe
    with pytest.raises(MissingCredentials, match="gs://acme-gcs"):
        signers().for_remote("gs://acme-gcs/store", {})
    with pytest.raises(MissingCredentials, match="cannot read the service account key"):
        signers({"url": "gs://acme-gcs", "credentials_file": str(tmp_path / "none.json")}).for_remote(
            "gs://acme-gcs", {}
        )


def test_a_url_signed_within_the_reuse_window_is_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reused for at most REUSE_S, so every URL handed out lives at least expires_in - REUSE_S more."""
    from modelshelf.storage import signers as module

    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    chosen = signers(*ENTRIES)
    urls = ["s3://acme/store/files/md5/ab/cd", "s3://acme/store/files/md5/ef/01"]
    first = chosen.sign_many("s3://acme/store", {}, urls)
    clock[0] += module.REUSE_S - 1
    assert chosen.sign_many("s3://acme/store", {}, list(reversed(urls))) == list(reversed(first))
    clock[0] += 2
    later = chosen.sign_many("s3://acme/store", {}, urls)
    assert [query(u)["X-Amz-Credential"] for u in later] == [query(u)["X-Amz-Credential"] for u in first]
    assert chosen.sign_many("s3://acme/store", {}, urls) == later  # the fresh ones are reused in turn
