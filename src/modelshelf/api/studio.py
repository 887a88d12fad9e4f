"""The DVC Studio face under `/api`: `create-project` and `model-registry/get-download-uris` as Studio
documents them, and this server's own project routes (list, show, refresh, delete, push webhooks).

Every error is `{"detail": "..."}`, the body Studio's other endpoints send and DVC prints. A Studio
client looks only at whether the status is 200, so the status matters less to it than the message.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from modelshelf.api.access import PUBLIC, Access, Gate, principal_of, protect, requires
from modelshelf.api.errors import STATUSES, Face, detail
from modelshelf.api.http import JSON, read_json
from modelshelf.api.router import SegmentRouter
from modelshelf.auth.tokens import Scope
from modelshelf.errors import InvalidArgument, PayloadTooLarge, shown
from modelshelf.gitindex import urls
from modelshelf.services import downloads, projects
from modelshelf.services.clock import iso
from modelshelf.services.gitsync import Syncer
from modelshelf.settings import Settings
from modelshelf.storage.errors import StorageProblem
from modelshelf.storage.signers import Signers
from modelshelf.store.gitmodels import ProjectView, RepositoryRow
from modelshelf.store.session import Database, Session

PREFIX = "/api"
STUDIO = Face(
    "studio",
    detail,
    [(downloads.ArtifactProblem, 422), (StorageProblem, 422), *STATUSES],
)
# How long the first download after create-project waits for the first index: the dvc client gives up
# after 5 seconds, so the answer (or a 503 with Retry-After) must be sent before that.
CLIENT_BUDGET_S = 4.5
FIRST_INDEX_WAIT_S = 3.5
SIGNING_RESERVE_S = 0.3  # kept back from a manifest fetch for signing and answering
RETRY_AFTER_S = 5
KEY_CACHE_SIZE = 1024
CREATE_FIELDS = {"repo_url", "public", "team_name", "subdir", "name"}


def project_url(settings: Settings, view: ProjectView) -> str:
    return projects.project_url(settings.effective_public_url, view)


def project_json(settings: Settings, view: ProjectView, *, secret: bool = False) -> dict[str, Any]:
    repository = view.repository
    body = {
        "id": view.project.id,
        "name": view.project.name,
        "url": project_url(settings, view),
        "repo": repository.identity,
        "repoUrl": repository.clone_url,
        "subdir": view.project.subdir,
        "public": bool(view.project.public),
        "owner": view.owner,
        "team": view.team,
        "createdAt": iso(view.project.create_time),
        "state": repository.state,
        "error": repository.error,
        "tagsIgnored": repository.tags_ignored,
        "lastFetchedAt": iso(repository.fetch_time),
        "lastIndexedAt": iso(repository.index_time),
        "webhookUrl": projects.webhook_url(settings.effective_public_url, view.project.id),
    }
    if secret:
        body["webhookSecret"] = view.project.webhook_secret
    return body


class StudioAPI:
    def __init__(self, database: Database, settings: Settings, syncer: Syncer, signers: Signers) -> None:
        self.database = database
        self.settings = settings
        self.syncer = syncer
        self.signers = signers
        self._keys: dict[str, urls.LookupKey] = {}

    # --- create-project ---------------------------------------------------------------------------------

    async def create_project(self, request: Request) -> Response:
        body = await read_json(request, self.settings.max_body_bytes)
        if not isinstance(body, dict):
            raise InvalidArgument("request body must be a JSON object")
        unknown = sorted(set(body) - CREATE_FIELDS)
        if unknown:
            raise InvalidArgument(
                f"unknown field {shown(unknown[0])}: expected {', '.join(sorted(CREATE_FIELDS))}"
            )
        repo_url = body.get("repo_url")
        if not isinstance(repo_url, str) or not repo_url.strip():
            raise InvalidArgument("repo_url is required")
        repo = urls.parse_repo_url(repo_url.strip(), schemes=self.settings.git.schemes)
        public = body.get("public", False)
        if not isinstance(public, bool):
            raise InvalidArgument("public must be true or false")
        team_name = body.get("team_name") or None
        if team_name is not None and not isinstance(team_name, str):
            raise InvalidArgument("team_name must be a string")
        subdirs = projects.check_subdirs(body.get("subdir"))
        name = projects.check_name(body.get("name"))
        actor = principal_of(request)

        def work(conn: Session) -> projects.Created:
            return projects.create(
                conn, repo, subdirs=subdirs, name=name, public=public, team_name=team_name, actor=actor
            )

        created = await self.database.writing(work)
        if created.repository.state != "ready":
            self.syncer.request(created.repository.id)
        made = [
            {"id": v.project.id, "url": project_url(self.settings, v), "name": v.project.name}
            for v in created.projects
        ]
        return JSON({"projects": made}, 201)

    # --- get-download-uris ------------------------------------------------------------------------------

    async def download_uris(self, request: Request) -> Response:
        # The dvc client gives up after 5 seconds: every wait below fits in what is left of this budget.
        budget = time.monotonic() + CLIENT_BUDGET_S
        params = request.query_params
        query = downloads.parse_query(
            params.get("repo"), params.get("name"), params.get("version"), params.get("stage")
        )
        key = self._lookup_key(query.repo)
        actor = principal_of(request)

        def find(conn: Session) -> tuple[RepositoryRow, downloads.Resolved | None]:
            return downloads.lookup(conn, key, query, actor)

        # Lookups through unique indexes only: on SQLite they run on the loop (store.session.looking_up).
        repository, resolved = await self.database.looking_up(find)
        if resolved is None:
            if repository.state != "error" or downloads.worth_retrying(repository):
                # Any job will do, this replica's or one running on another (which is waited for).
                self.syncer.request(repository.id, fresh=False)
                await self.syncer.wait(repository.id, min(FIRST_INDEX_WAIT_S, budget - time.monotonic()))
                repository, resolved = await self.database.looking_up(find)
            if resolved is None:
                raise downloads.not_indexed(repository, RETRY_AFTER_S)
        artifact = resolved.artifact
        if artifact.is_dir:
            timeout = budget - time.monotonic() - SIGNING_RESERVE_S
            files = await self.database.pool.run(
                lambda: downloads.directory_files(self.database, self.signers, artifact, timeout)
            )
            resolved = replace(resolved, files=files)
        objects = downloads.object_urls(resolved)
        signer = self.signers.ready(artifact.remote_url or "", downloads.remote_options(artifact))
        if signer is not None and len(objects) == 1:
            signed = downloads.sign(self.signers, signer, objects)  # no I/O: on the loop
        else:
            signed = await self.database.pool.run(
                lambda: downloads.sign(self.signers, downloads.signer_for(self.signers, artifact), objects)
            )
        return JSON(signed)

    def _lookup_key(self, repo: str) -> urls.LookupKey:
        """`repo` parsed into what to look up; the same few repositories are asked for again and again."""
        found = self._keys.get(repo)
        if found is None:
            found = urls.lookup_identities(repo, rewrites=self.settings.git.rewrite)
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[repo] = found
        return found

    # --- projects ---------------------------------------------------------------------------------------

    async def list_projects(self, request: Request) -> Response:
        actor = principal_of(request)

        def work(conn: Session) -> Response:
            views = projects.list_visible(conn, actor)
            return JSON({"items": [project_json(self.settings, v) for v in views]})

        return await self.database.reading(work)

    async def get_project(self, request: Request) -> Response:
        actor = principal_of(request)
        project_id = request.path_params["project_id"]

        def work(conn: Session) -> Response:
            view = projects.get(conn, project_id, actor)
            # The webhook secret goes only to those who may change the project, with a token that may.
            manage = actor.may(Scope.PROJECTS_CREATE) and projects.may_manage(conn, view.project, actor)
            return JSON(project_json(self.settings, view, secret=manage))

        return await self.database.reading(work)

    async def refresh_project(self, request: Request) -> Response:
        actor = principal_of(request)
        project_id = request.path_params["project_id"]
        view = await self.database.reading(lambda conn: projects.managed(conn, project_id, actor))
        self.syncer.request(view.repository.id)
        return JSON({"detail": f"refresh of {view.repository.identity} queued"}, 202)

    async def delete_project(self, request: Request) -> Response:
        actor = principal_of(request)
        project_id = request.path_params["project_id"]
        gone = await self.database.writing(lambda conn: projects.delete(conn, project_id, actor))
        if gone is not None:
            await self.database.pool.run(lambda: self.syncer.forget(gone))
        return Response(status_code=204)

    # --- push webhooks ----------------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """A push notification from GitHub (X-Hub-Signature-256), Bitbucket (X-Hub-Signature, sha256) or
        GitLab (X-Gitlab-Token), checked against the project's secret; any valid one queues a refresh."""
        project_id = request.path_params["project_id"]
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                raise PayloadTooLarge(f"request body exceeds {self.settings.max_body_bytes} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)

        view = await self.database.reading(lambda conn: projects.for_webhook(conn, project_id))
        if not _signed(request, body, view.project.webhook_secret):
            return STUDIO.error(401, "the webhook signature does not match this project's secret")
        if request.headers.get("x-github-event") == "ping":
            return JSON({"detail": "pong"})
        self.syncer.request(view.repository.id)
        return JSON({"detail": "refresh queued"}, 202)

    def table(self) -> list[tuple[str, str, Any, Access]]:
        read, create = requires(Scope.MODELS_READ), requires(Scope.PROJECTS_CREATE)
        return [
            ("POST", "/create-project", self.create_project, create),
            ("GET", "/model-registry/get-download-uris", self.download_uris, read),
            ("GET", "/projects", self.list_projects, read),
            ("GET", "/projects/{project_id}", self.get_project, read),
            ("POST", "/projects/{project_id}/refresh", self.refresh_project, create),
            ("DELETE", "/projects/{project_id}", self.delete_project, create),
            ("POST", "/webhooks/git/{project_id}", self.webhook, PUBLIC),
        ]


def _signed(request: Request, body: bytes, secret: str) -> bool:
    headers = request.headers
    gitlab = headers.get("x-gitlab-token")
    if gitlab is not None:
        return hmac.compare_digest(gitlab.encode(), secret.encode())
    signature = headers.get("x-hub-signature-256") or headers.get("x-hub-signature") or ""
    algorithm, _, digest = signature.partition("=")
    if algorithm != "sha256" or not digest:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest.encode(), expected.encode())


def mounts(
    database: Database, settings: Settings, syncer: Syncer, signers: Signers, gate: Gate, timeout: float
) -> list[Mount]:
    api = StudioAPI(database, settings, syncer, signers)
    routes = [
        (method, path, STUDIO.guard(protect(handler, access, gate), timeout=timeout), access)
        for method, path, handler, access in api.table()
    ]
    return [Mount(PREFIX, app=SegmentRouter(routes, STUDIO))]
