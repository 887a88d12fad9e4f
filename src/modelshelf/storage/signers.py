"""The signer for a DVC remote: its `[[storage]]` entry (the longest URL prefix on a path boundary) or,
without one, the SDK's standard credential chain. One Signers per app; SDK clients are built once per
effective configuration and shared by every request."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from modelshelf.errors import shown
from modelshelf.settings import SigningSettings, StorageSettings
from modelshelf.storage.azure import AzureSigner
from modelshelf.storage.base import Signer, sdk
from modelshelf.storage.errors import MissingCredentials, StorageProblem, UnsupportedRemote
from modelshelf.storage.gcs import GcsSigner
from modelshelf.storage.plain import PlainSigner
from modelshelf.storage.s3 import S3Signer

SUPPORTED = ("s3", "azure", "gs", "http", "https")
# The client would need these to download, and it sends no auth header: handing them out would leak them.
HTTP_AUTH_OPTIONS = ("auth", "user", "password", "custom_auth_header", "ask_password")
# Objects of such remotes are stored by path and version id, not by hash (DVC.md section 3).
PATH_LAYOUT_OPTIONS = ("version_aware", "worktree")
# A credential chain that found nothing may have probed a metadata service for a second or more; the
# answer is kept this long so that requests for such a remote fail fast.
NEGATIVE_TTL_S = 30.0
# Repositories name their remotes: a bound on the clients kept, so that many remotes cannot fill memory.
MAX_SIGNERS = 256
# A URL signed less than this long ago is handed out again instead of being signed anew: it still has at
# least `expires_in` minus this to live, and a directory of 1,000 files costs 60 ms to sign each time.
REUSE_S = 60.0
MAX_REUSED = 200_000


class Signers:
    def __init__(self, storage: Sequence[StorageSettings], signing: SigningSettings) -> None:
        # Longest first, so the first match is the longest prefix.
        self._storage = sorted(storage, key=lambda entry: len(_normal(entry.url)), reverse=True)
        self._expires_in = int(signing.expires_in)
        self._signers: dict[tuple[Any, ...], Signer] = {}
        self._failures: dict[tuple[Any, ...], tuple[float, StorageProblem]] = {}
        self._ready: dict[tuple[str, str], Signer] = {}  # (remote URL, options) -> a signer built before
        self._recent: dict[tuple[int, str], tuple[str, float]] = {}  # (signer, URL) -> (signed, when)
        self._lock = threading.Lock()

    @property
    def expires_in(self) -> int:
        return self._expires_in

    def ready(self, remote_url: str, options: Mapping[str, str]) -> Signer | None:
        """The signer for this remote if one was built already and signs without any I/O (static keys), so
        a request may sign on the event loop; None: use `for_remote` on a worker thread."""
        found = self._ready.get((remote_url, _options_key(options)))
        return found if found is not None and found.offline else None

    def for_remote(self, remote_url: str, options: Mapping[str, str]) -> Signer:
        found = self._build(remote_url, options)
        with self._lock:
            if len(self._ready) >= MAX_SIGNERS:
                self._ready.clear()
            self._ready[(remote_url, _options_key(options))] = found
        return found

    def _build(self, remote_url: str, options: Mapping[str, str]) -> Signer:
        remote = _normal(remote_url)
        scheme = _scheme(remote)
        for name in PATH_LAYOUT_OPTIONS:
            if _truthy(options.get(name)):
                raise UnsupportedRemote(
                    f"the remote {shown(remote_url)} has {name} set; "
                    "only remotes that store objects by hash are supported"
                )
        entry = self.storage_entry(remote)
        if scheme in ("http", "https"):
            if any(name in options for name in HTTP_AUTH_OPTIONS):
                raise UnsupportedRemote(
                    f"the remote {shown(remote_url)} needs authentication, and a download URL for it would "
                    "have to carry the credentials"
                )
            return self._cached(("plain", remote), lambda: PlainSigner(remote))
        if not remote.partition("://")[2].partition("/")[0]:
            raise UnsupportedRemote(f"the remote {shown(remote_url)} names no bucket or container")
        if scheme == "s3":
            return self._s3(remote, options, entry)
        if scheme == "azure":
            return self._azure(remote, options, entry)
        return self._gcs(remote, options, entry)

    def sign_many(self, remote_url: str, options: Mapping[str, str], urls: Sequence[str]) -> list[str]:
        return self.sign_with(self.for_remote(remote_url, options), urls)

    def sign_with(self, signer: Signer, urls: Sequence[str]) -> list[str]:
        """`urls` signed by `signer`, reusing what it signed in the last REUSE_S seconds."""
        now = time.monotonic()
        ident = id(signer)
        signed: list[str | None] = []
        missing = []
        for index, url in enumerate(urls):
            hit = self._recent.get((ident, url))
            if hit is not None and now - hit[1] < REUSE_S:
                signed.append(hit[0])
            else:
                signed.append(None)
                missing.append(index)
        if missing:
            fresh = signer.sign_many([urls[i] for i in missing], expires_in=self._expires_in)
            if len(self._recent) + len(fresh) > MAX_REUSED:
                self._recent.clear()
            for index, url in zip(missing, fresh, strict=True):
                signed[index] = url
                self._recent[(ident, urls[index])] = (url, now)
        return [url for url in signed if url is not None]

    def storage_entry(self, remote_url: str) -> StorageSettings | None:
        """The `[[storage]]` entry whose URL is the longest prefix of `remote_url`, on a path boundary."""
        remote = _normal(remote_url)
        for entry in self._storage:
            prefix = _normal(entry.url)
            if remote == prefix or remote.startswith(prefix + "/"):
                return entry
        return None

    def _cached(self, key: tuple[Any, ...], build: Callable[[], Signer]) -> Signer:
        found = self._signers.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._signers.get(key)
            if found is not None:
                return found
            failed = self._failures.get(key)
            if failed is not None and time.monotonic() - failed[0] < NEGATIVE_TTL_S:
                raise failed[1]
            try:
                found = build()
            except MissingCredentials as exc:
                self._failures[key] = (time.monotonic(), exc)
                raise
            except StorageProblem:
                raise
            except Exception as exc:  # an endpoint or region from a repository that the SDK refuses
                problem = UnsupportedRemote(
                    f"cannot use the remote {shown(key[1])} with its configuration: {type(exc).__name__}"
                )
                self._failures[key] = (time.monotonic(), problem)
                raise problem from exc
            if len(self._signers) >= MAX_SIGNERS:
                self._signers.clear()
                self._recent.clear()  # its keys hold ids of signers that may now be reused
            self._signers[key] = found
            return found

    def _s3(self, remote: str, options: Mapping[str, str], entry: StorageSettings | None) -> Signer:
        boto3 = sdk("boto3")
        region = (entry and entry.region) or options.get("region") or "us-east-1"
        endpoint = (entry and entry.endpoint_url) or options.get("endpointurl") or None
        explicit = (
            entry is not None and entry.access_key_id is not None and entry.secret_access_key is not None
        )
        profile = None if explicit else options.get("profile")
        credentials = (
            (entry.access_key_id, entry.secret_access_key, entry.session_token)
            if explicit and entry is not None
            else ("default chain", profile)
        )

        def build() -> Signer:
            botocore_config = importlib.import_module("botocore.config")
            botocore_exceptions = importlib.import_module("botocore.exceptions")
            try:
                if explicit and entry is not None:
                    session = boto3.session.Session(
                        aws_access_key_id=entry.access_key_id,
                        aws_secret_access_key=entry.secret_access_key,
                        aws_session_token=entry.session_token,
                    )
                else:
                    session = boto3.session.Session(profile_name=profile)
                found = session.get_credentials()
            except botocore_exceptions.BotoCoreError as exc:  # an unknown profile, a broken config file
                raise MissingCredentials(f"no credentials for {shown(remote)}: {type(exc).__name__}") from exc
            if found is None:
                raise MissingCredentials(
                    f"no [[storage]] entry matches {shown(remote)} and the AWS credential chain found no "
                    "credentials (environment, profile, instance role)"
                )
            client = session.client(
                "s3",
                region_name=region,
                endpoint_url=endpoint,
                config=botocore_config.Config(
                    # Without it botocore presigns with SigV2, which newer regions reject.
                    signature_version="s3v4",
                    # Custom endpoints (MinIO, Ceph, moto) rarely resolve bucket subdomains.
                    s3={"addressing_style": "path" if endpoint else "virtual"},
                ),
            )
            return S3Signer(remote, client, found)

        return self._cached(("s3", remote, region, endpoint, credentials), build)

    def _azure(self, remote: str, options: Mapping[str, str], entry: StorageSettings | None) -> Signer:
        blob = sdk("azure.storage.blob")
        connection_string = entry.connection_string if entry is not None else None
        account_name = (entry and entry.account_name) or options.get("account_name")
        account_key = entry.account_key if entry is not None else None
        if connection_string is None and account_key is None:
            connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or None
        endpoint = (entry and entry.endpoint_url) or None

        def account_url() -> str:
            return (endpoint or f"https://{account_name}.blob.core.windows.net").rstrip("/")

        def build() -> Signer:
            if connection_string is not None:
                try:
                    service = blob.BlobServiceClient.from_connection_string(connection_string)
                except ValueError as exc:  # the SDK's message may quote the string, so it is not passed on
                    raise MissingCredentials(
                        f"the connection string for {shown(remote)} is malformed"
                    ) from exc
                key = getattr(service.credential, "account_key", None)
                if key is None:
                    raise MissingCredentials(
                        f"the connection string for {shown(remote)} has no AccountKey to sign with"
                    )
                return AzureSigner(remote, service, account_key=key)
            if account_name and account_key:
                service = blob.BlobServiceClient(
                    account_url(), credential={"account_name": account_name, "account_key": account_key}
                )
                return AzureSigner(remote, service, account_key=account_key)
            if account_name and importlib.util.find_spec("azure.identity") is not None:
                identity: Any = importlib.import_module("azure.identity")
                service = blob.BlobServiceClient(account_url(), credential=identity.DefaultAzureCredential())
                return AzureSigner(remote, service, account_key=None)
            raise MissingCredentials(
                f"no [[storage]] entry matches {shown(remote)}, AZURE_STORAGE_CONNECTION_STRING is not set, "
                "and no account_name with azure-identity installed to sign with Entra ID"
            )

        key = ("azure", remote, connection_string, account_name, account_key, endpoint)
        return self._cached(key, build)

    def _gcs(self, remote: str, options: Mapping[str, str], entry: StorageSettings | None) -> Signer:
        sdk("google.cloud.storage")
        credentials_file = entry.credentials_file if entry is not None else None
        endpoint = (entry and entry.endpoint_url) or options.get("endpointurl") or None

        def build() -> Signer:
            service_account: Any = importlib.import_module("google.oauth2.service_account")
            if credentials_file is not None:
                try:
                    credentials = service_account.Credentials.from_service_account_file(str(credentials_file))
                except (OSError, ValueError, KeyError) as exc:
                    raise MissingCredentials(
                        f"cannot read the service account key {credentials_file}: {type(exc).__name__}"
                    ) from exc
            else:
                google_auth: Any = importlib.import_module("google.auth")
                auth_exceptions: Any = importlib.import_module("google.auth.exceptions")
                try:
                    credentials, _ = google_auth.default()
                except auth_exceptions.DefaultCredentialsError as exc:
                    raise MissingCredentials(
                        f"no [[storage]] entry matches {shown(remote)} and Google's default credentials "
                        "are not configured"
                    ) from exc
                if not isinstance(credentials, service_account.Credentials):
                    raise MissingCredentials(
                        f"Google's default credentials for {shown(remote)} hold no private key to sign "
                        "URLs with; set credentials_file to a service account key"
                    )
            return GcsSigner(remote, credentials, endpoint_url=endpoint)

        return self._cached(("gs", remote, credentials_file, endpoint), build)


def _options_key(options: Mapping[str, str]) -> str:
    return "\x00".join(f"{k}={v}" for k, v in sorted(options.items()))


def _normal(url: str) -> str:
    """Trailing slashes dropped and the scheme lowercased, so that prefixes compare on path boundaries."""
    scheme, sep, rest = url.partition("://")
    return (scheme.lower() + sep + rest).rstrip("/") if sep else url


def _scheme(remote: str) -> str:
    scheme, sep, _ = remote.partition("://")
    if not sep:
        raise UnsupportedRemote(
            f"the remote {shown(remote)} is a local path; only s3, azure, gs, http and https remotes can "
            "be downloaded from"
        )
    if scheme not in SUPPORTED:
        raise UnsupportedRemote(
            f"{scheme}:// remotes are not supported; only s3, azure, gs, http and https remotes can be "
            "downloaded from"
        )
    return scheme


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "yes", "on")
