"""The one typed settings object. Read from `MODELSHELF_*` environment variables (and flags); tests build
their own `Settings(...)` instead of patching the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PREFIX = "MODELSHELF_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".modelshelf")
    database_url: str | None = None  # default: SQLite file inside data_dir
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "info"
    max_body_bytes: int = 4 * 1024 * 1024
    # Connection limits (seconds for durations); modelshelf.server says who enforces each.
    max_connections: int = 900  # below the usual open-file limit of 1024, with room for the database
    max_header_bytes: int = 65536
    header_timeout: float = 10.0  # a new connection's first request, or stalled headers
    keep_alive_timeout: float = 5.0
    body_timeout: float = 30.0  # longest wait for the next chunk of a request body
    shutdown_timeout: float = 30.0  # SIGTERM: time left to requests already received
    auth: bool = True  # off only through `serve --no-auth`, which insists on a loopback address
    # The bootstrap admin's token for an empty database (MODELSHELF_ADMIN_TOKEN); kept out of repr.
    admin_token: str | None = field(default=None, repr=False)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'modelshelf.db').resolve()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        base = cls()
        values: dict[str, object] = {}
        if v := env.get(PREFIX + "DATA_DIR"):
            values["data_dir"] = Path(v)
        if v := env.get(PREFIX + "DATABASE_URL"):
            values["database_url"] = v
        if v := env.get(PREFIX + "HOST"):
            values["host"] = v
        if v := env.get(PREFIX + "PORT"):
            values["port"] = int(v)
        if v := env.get(PREFIX + "LOG_LEVEL"):
            values["log_level"] = v.lower()
        if v := env.get(PREFIX + "MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(v)
        for name in ("max_connections", "max_header_bytes"):
            if v := env.get(PREFIX + name.upper()):
                values[name] = int(v)
        for name in ("header_timeout", "keep_alive_timeout", "body_timeout", "shutdown_timeout"):
            if v := env.get(PREFIX + name.upper()):
                values[name] = float(v)
        if v := env.get(PREFIX + "ADMIN_TOKEN"):
            values["admin_token"] = v
        return replace(base, **values)  # type: ignore[arg-type]
