"""Helpers for the scenario scripts, which run INSIDE a client venv (import `model_registry`), not pytest.

A scenario is `python <scenario>.py SERVER_URL NAME_PREFIX` (or env `MR_URL` / `MR_PREFIX`), with the
token to connect with in env `MR_TOKEN` (and a read-only one in `MR_READ_TOKEN`).
Exit codes: 0 = every check passed; 1 = a check failed or something raised (message on stderr).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import urlparse

EXIT_OK = 0
EXIT_FAILED = 1


class CheckFailed(AssertionError):
    pass


class Scenario:
    def __init__(self, name: str, argv: list[str] | None = None) -> None:
        args = sys.argv[1:] if argv is None else argv
        self.name = name
        self.url = args[0] if args else os.environ.get("MR_URL", "")
        self.prefix = args[1] if len(args) > 1 else os.environ.get("MR_PREFIX", "")
        if not self.url or not self.prefix:
            self.abort(f"usage: {name}.py SERVER_URL NAME_PREFIX (or env MR_URL, MR_PREFIX)")
        self.token = os.environ.get("MR_TOKEN", "")
        self.read_token = os.environ.get("MR_READ_TOKEN", "")
        self.checks = 0

    # -- connection ------------------------------------------------------------------------------------------

    def connect(self, author: str = "e2e-author", token: str | None = None) -> Any:
        """A client as a user would make one: `user_token=` the scenario's token unless another is given."""
        from model_registry import ModelRegistry

        url = urlparse(self.url)
        with warnings.catch_warnings():
            # "User access token is missing" and the "port should end in 80" hint: expected here
            warnings.simplefilter("ignore", UserWarning)
            return ModelRegistry(
                f"{url.scheme}://{url.hostname}",
                url.port,
                author=author,
                is_secure=url.scheme == "https",
                log_level=logging.ERROR,  # not the "port is not 80" hint
                user_token=self.token if token is None else token,
            )

    # -- checks ----------------------------------------------------------------------------------------------

    def step(self, text: str) -> None:
        print(f"[{self.name}] {text}", flush=True)

    def check(self, condition: object, message: str) -> None:
        self.checks += 1
        if not condition:
            raise CheckFailed(message)

    def eq(self, actual: object, expected: object, what: str) -> None:
        self.check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")

    def same_typed(self, actual: dict[str, Any], expected: dict[str, Any], what: str) -> None:
        """Equal dicts whose values also have the same types (True == 1 and 1 == 1.0 in Python)."""
        self.eq(actual, expected, what)
        got = {k: type(v).__name__ for k, v in actual.items()}
        want = {k: type(v).__name__ for k, v in expected.items()}
        self.eq(got, want, f"{what} (value types)")

    def raises(self, exc_type: type[BaseException], fn: Callable[[], object], what: str) -> BaseException:
        self.checks += 1
        try:
            result = fn()
        except exc_type as exc:
            return exc
        raise CheckFailed(f"{what}: expected {exc_type.__name__}, got a result: {result!r}")

    def abort(self, message: str) -> NoReturn:
        print(f"[{self.name}] FAILED: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_FAILED)

    # -- naming ----------------------------------------------------------------------------------------------

    def model_name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    @staticmethod
    def tick() -> None:
        """Let the server clock move on, so create/update times of consecutive writes differ."""
        time.sleep(0.02)


def run(scenario: Scenario, body: Callable[[Scenario], None]) -> NoReturn:
    started = time.monotonic()
    try:
        body(scenario)
    except CheckFailed as exc:
        scenario.abort(f"check failed: {exc}")
    except Exception:
        traceback.print_exc()
        scenario.abort("unexpected exception (traceback above)")
    elapsed = time.monotonic() - started
    print(f"[{scenario.name}] OK: {scenario.checks} checks, {elapsed:.2f}s", flush=True)
    sys.exit(EXIT_OK)
