"""Virtualenvs holding the official Kubeflow Model Registry Python client (`model-registry` on PyPI).

One venv per client version under `<repo>/.cache/clients/model-registry-<version>/`, built once and reused:
a marker file is written only after a successful install, so a half-built venv (killed build, failed pip)
is wiped and rebuilt. An exclusive `fcntl.flock` on a lock file beside the venv serialises builders across
processes (parallel pytest sessions, xdist workers).

Run directly to build (or check) the venvs: `python -m tests.e2e.clients [VERSION ...]`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "clients"

# version -> API prefix it speaks (CLIENT.md §1)
CLIENT_VERSIONS: dict[str, str] = {
    "0.3.18": "/api/model_registry/v1",
    "0.3.14": "/api/model_registry/v1alpha3",
}

MARKER = ".modelshelf-installed"
INSTALL_TIMEOUT_S = 240.0  # cold installs take ~40-55 s here; stays under the 300 s pytest timeout
LOCK_TIMEOUT_S = INSTALL_TIMEOUT_S + 60.0


class ClientInstallError(RuntimeError):
    """The client venv could not be built (pip failed, timed out, or the import check failed)."""


@dataclass(frozen=True)
class ClientVenv:
    version: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def api_prefix(self) -> str:
        return CLIENT_VERSIONS[self.version]


def venv_dir(version: str) -> Path:
    return CACHE_DIR / f"model-registry-{version}"


def _marker_ok(path: Path, version: str) -> bool:
    marker = path / MARKER
    try:
        return marker.read_text().strip() == version and (path / "bin" / "python").exists()
    except OSError:
        return False


@contextmanager
def _locked(lock_path: Path, timeout: float) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClientInstallError(
                        f"timed out after {timeout:.0f}s waiting for {lock_path} (another build stuck?)"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _base_python() -> str:
    return shutil.which("python3") or sys.executable


def _run(cmd: list[str], *, timeout: float) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ClientInstallError(f"{' '.join(cmd)} timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise ClientInstallError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )


def build_venv(
    path: Path, what: str, packages: list[str], checks: list[list[str]], marker: str, timeout: float
) -> None:
    """A fresh venv at `path` with `packages` (one pip resolver run), `checks` run in it (`{bin}` is its
    bin directory), and the marker file written last, all within `timeout` seconds."""
    if path.exists():
        shutil.rmtree(path)
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClientInstallError(f"building {what} took over {timeout:.0f}s")
        return left

    _run([_base_python(), "-m", "venv", str(path)], timeout=remaining())
    bin_dir = str(path / "bin")
    _run([f"{bin_dir}/python", "-m", "pip", "install", "-q", *packages], timeout=remaining())
    for check in checks:
        _run([part.format(bin=bin_dir) for part in check], timeout=remaining())
    (path / MARKER).write_text(marker + "\n")


def _build(version: str, path: Path) -> None:
    check = (
        "import model_registry, mr_openapi, sys; "
        f"sys.exit(0 if model_registry.__version__ == {version!r} else "
        "'installed model_registry ' + model_registry.__version__)"
    )
    build_venv(
        path,
        f"model-registry {version}",
        [f"model-registry=={version}"],
        [["{bin}/python", "-c", check]],
        version,
        INSTALL_TIMEOUT_S,
    )


def ensure_client(version: str) -> ClientVenv:
    """Return the venv for `version`, building it first if it is missing or half-built."""
    if version not in CLIENT_VERSIONS:
        raise ValueError(f"unknown client version {version!r}; known: {sorted(CLIENT_VERSIONS)}")
    path = venv_dir(version)
    if not _marker_ok(path, version):
        with _locked(CACHE_DIR / f"model-registry-{version}.lock", LOCK_TIMEOUT_S):
            if not _marker_ok(path, version):  # another process may have finished it while we waited
                _build(version, path)
    return ClientVenv(version=version, path=path)


def main(argv: list[str]) -> int:
    for version in argv or list(CLIENT_VERSIONS):
        started = time.monotonic()
        venv = ensure_client(version)
        print(f"model-registry {version}: {venv.python} ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
