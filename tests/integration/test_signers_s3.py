"""S3 signing against moto's server: URLs a client without credentials can GET, their SigV4 shape, the
fast path's byte-identical URLs, the credential chain fallback, and fetching small objects."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.config import Config

from modelshelf.storage import MissingCredentials, ObjectUnavailable
from modelshelf.storage.s3 import S3Signer
from tests.fixtures.moto_s3 import MotoS3
from tests.integration.storage_helpers import closed_port, get, query, signers, silent_server

BUCKET = "acme-models"
DIR_MANIFEST = (
    b'[{"md5": "a01637863c1f9585c3e38cde6ce20940", "relpath": "sub/config.json"}, '
    b'{"md5": "7644672d049290f0390d9c993c7d343d", "relpath": "weights.bin"}]'
)


@pytest.fixture(scope="module")
def s3(moto_s3: MotoS3) -> MotoS3:
    client: Any = moto_s3.client()
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="store/files/md5/55/bb247c", Body=b"model bytes")
    client.put_object(Bucket=BUCKET, Key="store/files/md5/27/f12287.dir", Body=DIR_MANIFEST)
    client.put_object(Bucket=BUCKET, Key="store/odd name+ü~%.bin", Body=b"odd")
    return moto_s3


def entry(s3: MotoS3, url: str = f"s3://{BUCKET}", **extra: Any) -> dict[str, Any]:
    return {
        "url": url,
        "endpoint_url": s3.endpoint_url,
        "access_key_id": s3.access_key_id,
        "secret_access_key": s3.secret_access_key,
        **extra,
    }


def test_signed_url_downloads_the_object_without_credentials(s3: MotoS3) -> None:
    remote = f"s3://{BUCKET}/store"
    [url, odd] = signers(entry(s3)).sign_many(
        remote, {}, [f"{remote}/files/md5/55/bb247c", f"{remote}/odd name+ü~%.bin"]
    )
    assert get(url) == (200, b"model bytes")
    assert get(odd) == (200, b"odd")


def test_url_is_sigv4_path_style_with_the_expiry_and_region(s3: MotoS3) -> None:
    remote = f"s3://{BUCKET}/store"
    url = (
        signers(entry(s3, region="eu-west-1"), expires_in=900)
        .for_remote(remote, {})
        .sign(f"{remote}/files/md5/55/bb247c", expires_in=900)
    )
    assert url.startswith(f"{s3.endpoint_url}/{BUCKET}/store/files/md5/55/bb247c?")
    params = query(url)
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "900"
    assert params["X-Amz-SignedHeaders"] == "host"
    access_key, _date, region, service, terminator = params["X-Amz-Credential"].split("/")
    assert (access_key, region, service, terminator) == (s3.access_key_id, "eu-west-1", "s3", "aws4_request")
    assert len(params["X-Amz-Signature"]) == 64


@pytest.mark.parametrize(
    ("storage_region", "remote_region", "expected"),
    [("eu-west-1", "ap-south-1", "eu-west-1"), (None, "ap-south-1", "ap-south-1"), (None, None, "us-east-1")],
)
def test_region_comes_from_storage_then_the_remote_then_us_east_1(
    s3: MotoS3, storage_region: str | None, remote_region: str | None, expected: str
) -> None:
    options = {} if remote_region is None else {"region": remote_region}
    url = signers(entry(s3, region=storage_region)).sign_many(
        f"s3://{BUCKET}", options, [f"s3://{BUCKET}/k"]
    )[0]
    assert query(url)["X-Amz-Credential"].split("/")[2] == expected


def test_endpoint_comes_from_the_remote_when_storage_has_none(s3: MotoS3) -> None:
    settings = entry(s3)
    del settings["endpoint_url"]
    remote = f"s3://{BUCKET}/store"
    [url] = signers(settings).sign_many(
        remote, {"endpointurl": s3.endpoint_url}, [f"{remote}/files/md5/55/bb247c"]
    )
    assert get(url) == (200, b"model bytes")


def test_without_an_endpoint_the_url_is_aws_virtual_host_in_the_region() -> None:
    url = signers(
        {"url": "s3://acme-bucket", "access_key_id": "AKID", "secret_access_key": "s", "region": "eu-west-1"}
    )
    signed = url.sign_many("s3://acme-bucket/p", {}, ["s3://acme-bucket/p/files/md5/ab/cd"])[0]
    assert signed.startswith(
        "https://acme-bucket.s3.eu-west-1.amazonaws.com/p/files/md5/ab/cd?X-Amz-Algorithm="
    )


KEYS = ["p/files/md5/ab/cdef", "p/a b+c/ü/~x%y=z&q.dir", "p//double/slash", "p/files/md5/00/" + "f" * 30]


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9", "https://minio.example:9000/"])
@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzE+/token=="])
def test_fast_path_is_byte_identical_to_boto3(
    monkeypatch: pytest.MonkeyPatch, endpoint: str | None, token: str | None
) -> None:
    frozen = datetime(2026, 3, 4, 5, 6, 7)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: frozen)
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
    )
    client = session.client(
        "s3",
        region_name="eu-central-1",
        endpoint_url=endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint else "virtual"}),
    )
    signer = S3Signer("s3://bucket", client, session.get_credentials())
    ours = signer.sign_many([f"s3://bucket/{key}" for key in KEYS], expires_in=1234)
    assert signer._buckets["bucket"].fast  # the probe's signature was reproduced, so no URL came from boto3
    theirs = [
        client.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": key}, ExpiresIn=1234)
        for key in KEYS
    ]
    assert ours == theirs


def test_fast_path_signs_a_thousand_urls_quickly(s3: MotoS3) -> None:
    remote = f"s3://{BUCKET}/store"
    signer = signers(entry(s3)).for_remote(remote, {})
    urls = [f"{remote}/files/md5/{i:02x}/{'c' * 30}" for i in range(1000)]
    signer.sign_many(urls[:1], expires_in=3600)  # the per-bucket probe
    started = time.perf_counter()
    signed = signer.sign_many(urls, expires_in=3600)
    elapsed = time.perf_counter() - started
    assert len(set(signed)) == 1000
    # boto3 alone takes ~330 ms here; the fast path ~10 ms. The bound leaves room for a busy machine.
    assert elapsed < 0.25, elapsed


def test_storage_credentials_are_not_needed_from_the_environment(
    s3: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_aws_environment(monkeypatch, tmp_path)
    [url] = signers(entry(s3)).sign_many(f"s3://{BUCKET}", {}, [f"s3://{BUCKET}/store/files/md5/55/bb247c"])
    assert get(url) == (200, b"model bytes")


def test_without_a_storage_entry_the_default_chain_signs(
    s3: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-environment")
    other = signers({"url": "s3://acme", "access_key_id": "AKIAOTHER", "secret_access_key": "x"})
    remote = f"s3://{BUCKET}/store"
    [url] = other.sign_many(remote, {"endpointurl": s3.endpoint_url}, [f"{remote}/files/md5/55/bb247c"])
    assert query(url)["X-Amz-Credential"].startswith("AKIAFROMENVIRONMENT/")
    assert get(url) == (200, b"model bytes")


def test_no_credentials_anywhere_is_missing_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_aws_environment(monkeypatch, tmp_path)
    chosen = signers()
    with pytest.raises(MissingCredentials, match="s3://bucket"):
        chosen.for_remote("s3://bucket/store", {})
    with pytest.raises(MissingCredentials):  # an unknown profile named by the remote
        chosen.for_remote("s3://bucket/other", {"profile": "nowhere"})


def test_fetch_reads_a_dir_manifest(s3: MotoS3) -> None:
    signer = signers(entry(s3)).for_remote(f"s3://{BUCKET}/store", {})
    url = f"s3://{BUCKET}/store/files/md5/27/f12287.dir"
    assert signer.fetch(url, max_bytes=len(DIR_MANIFEST), timeout=5) == DIR_MANIFEST
    with pytest.raises(ObjectUnavailable, match="larger than 100 bytes"):
        signer.fetch(url, max_bytes=100, timeout=5)


def test_fetch_of_a_missing_object_is_unavailable_and_shows_no_signature(s3: MotoS3) -> None:
    signer = signers(entry(s3)).for_remote(f"s3://{BUCKET}/store", {})
    with pytest.raises(ObjectUnavailable, match="HTTP 404") as raised:
        signer.fetch(f"s3://{BUCKET}/store/files/md5/00/missing.dir", max_bytes=1000, timeout=5)
    assert "X-Amz" not in str(raised.value)
    assert str(raised.value).startswith(f"fetching s3://{BUCKET}/store/files/md5/00/missing.dir failed")


def test_fetch_from_a_hung_endpoint_gives_up_within_the_timeout(s3: MotoS3) -> None:
    with silent_server() as endpoint:
        signer = signers(entry(s3, endpoint_url=endpoint)).for_remote(f"s3://{BUCKET}", {})
        started = time.monotonic()
        with pytest.raises(ObjectUnavailable, match=r"took more than 0\.5 s"):
            signer.fetch(f"s3://{BUCKET}/k.dir", max_bytes=1000, timeout=0.5)
        assert time.monotonic() - started < 1.5


def test_fetch_from_a_closed_port_is_unavailable(s3: MotoS3) -> None:
    signer = signers(entry(s3, endpoint_url=closed_port())).for_remote(f"s3://{BUCKET}", {})
    with pytest.raises(ObjectUnavailable, match="ConnectionRefusedError"):
        signer.fetch(f"s3://{BUCKET}/k.dir", max_bytes=1000, timeout=2)


def _no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing for boto3's chain to find: no variables, no files, no metadata service (which would also
    cost seconds of probing)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
