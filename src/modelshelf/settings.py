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
    log_format: str = "text"  # "text" | "json" (one object per line)
    access_log: bool = True  # one INFO line per request
    metrics_public: bool = False  # True: /metrics needs no token
    max_body_bytes: int = 4 * 1024 * 1024
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
        if v := env.get(PREFIX + "LOG_FORMAT"):
            values["log_format"] = v.lower()
        if v := env.get(PREFIX + "ACCESS_LOG"):
            values["access_log"] = _flag(PREFIX + "ACCESS_LOG", v)
        if v := env.get(PREFIX + "METRICS_PUBLIC"):
            values["metrics_public"] = _flag(PREFIX + "METRICS_PUBLIC", v)
        if v := env.get(PREFIX + "MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(v)
        if v := env.get(PREFIX + "ADMIN_TOKEN"):
            values["admin_token"] = v
        return replace(base, **values)  # type: ignore[arg-type]


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0 (true or false), not {value!r}")
