"""Running `git` for a fetch: a clean environment that runs no program the server did not choose, the
credentials through a channel no other user can read, a deadline that kills the whole process group, and
a one-line reason on failure that holds no secret."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from modelshelf.settings import GitCredential

GIT = "git"
TRANSPORTS = ("https", "http", "ssh", "git", "file")
STDERR_KEPT = 64 * 1024  # a hostile server may stream messages until the deadline; keep only the start
REASON_LENGTH = 300
USERNAME_ENV = "MODELSHELF_GIT_USERNAME"
PASSWORD_ENV = "MODELSHELF_GIT_PASSWORD"
# Passed through from the server's environment: what reaching a server through a proxy or a private CA
# needs, and nothing that selects a program, a config file or a repository (GIT_DIR, GIT_SSH, ...).
PASSED_ENV = (
    "PATH",
    "TZ",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
)
# Git runs the helper through the shell with "get", "store" or "erase" appended; it answers "get" from
# two variables set only in this git's environment, so the secret is never in an argument or a file.
CREDENTIAL_HELPER = (
    "!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' "
    f'"${USERNAME_ENV}" "${PASSWORD_ENV}"; }}; f'
)
_HELPER = re.compile(r"[A-Za-z0-9+.-]+::")
_SCP = re.compile(r"(?:[^@/:]+@)?(\[[^\]/]*\]|[^@/:\[\]]+):.*", re.DOTALL)
_URL_PASSWORD = re.compile(r"(://[^/@\s:]*):[^/@\s]*@")


class GitCommandError(Exception):
    """A git command failed; the message is one line, safe to show."""


@dataclass(frozen=True, slots=True)
class GitContext:
    """Where the commands of one mirror keep their state: an empty home (so no user config is read) and
    the known_hosts file that `StrictHostKeyChecking=accept-new` fills."""

    home: Path
    known_hosts: Path


def transport(url: str) -> str:
    """Git's protocol name for `url` (the one `protocol.<name>.allow` must permit)."""
    if _HELPER.match(url):
        raise GitCommandError("unsupported repository URL: '<transport>::<address>' runs a program")
    if "://" in url:
        scheme = url.partition("://")[0].lower()
        scheme = {"git+ssh": "ssh", "ssh+git": "ssh"}.get(scheme, scheme)
        if scheme in TRANSPORTS:
            return scheme
        raise GitCommandError(f"unsupported repository URL scheme '{scheme[:20]}'")
    if url.startswith("/"):
        return "file"
    if _SCP.fullmatch(url):
        return "ssh"
    raise GitCommandError("unsupported repository URL")


def git_command(
    url: str, context: GitContext, credentials: GitCredential | None
) -> tuple[list[str], dict[str, str]]:
    """The leading arguments (`git -c ...`) and the environment for a git command that talks to `url`."""
    proto = transport(url)
    config = {
        # Only the transport this URL needs; never ext:: (runs a command) nor a redirect to plain http.
        "protocol.allow": "never",
        f"protocol.{proto}.allow": "always",
        "core.hooksPath": os.devnull,
        "core.askPass": "",
        "credential.helper": "",
        "gc.autoDetach": "false",  # a detached gc would leave the process group and outlive the deadline
        "maintenance.autoDetach": "false",
        "fetch.recurseSubmodules": "false",
        "submodule.recurse": "false",
        "transfer.credentialsInUrl": "die",
    }
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env.update(
        HOME=str(context.home),
        XDG_CONFIG_HOME=str(context.home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",  # empty: no askpass program at all (not even SSH_ASKPASS), so no prompt can hang
        SSH_ASKPASS="",
        GCM_INTERACTIVE="never",
        GIT_LFS_SKIP_SMUDGE="1",
        LC_ALL="C",  # the failure reason is read from git's English messages
    )
    args = [GIT]
    for key, value in config.items():
        args += ["-c", f"{key}={value}"]
    if credentials is not None and credentials.password is not None and proto in ("https", "http"):
        username = credentials.username or "git"
        if any(c in value for value in (username, credentials.password) for c in "\r\n\0"):
            raise GitCommandError(f"the credentials configured for {credentials.host} contain a line break")
        # Scoped to the configured host: a redirect to another host must not be answered with the secret.
        scope = f"{proto}://{urlsplit(url).netloc.rpartition('@')[2]}"
        args += ["-c", f"credential.{scope}.helper={CREDENTIAL_HELPER}"]  # after the reset above
        env[USERNAME_ENV] = username
        env[PASSWORD_ENV] = credentials.password
    if proto == "ssh":
        env["GIT_SSH_COMMAND"] = _ssh_command(context, credentials)
    return args, env


def _ssh_command(context: GitContext, credentials: GitCredential | None) -> str:
    words = [
        "ssh",
        "-F",
        os.devnull,
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"UserKnownHostsFile={context.known_hosts}",
        "-o",
        "ConnectTimeout=30",
    ]
    if credentials is not None and credentials.ssh_key is not None:
        words += ["-i", str(credentials.ssh_key), "-o", "IdentitiesOnly=yes"]
    return shlex.join(words)


_running: set[subprocess.Popen[bytes]] = set()  # every git this process is running, for kill_all
_running_lock = threading.Lock()


def kill_all() -> None:
    """Kill every git process group this process started and that still runs (the server is stopping:
    a fetch must not outlive it, nor keep it waiting for its own timeout)."""
    with _running_lock:
        for proc in list(_running):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)


def run_git(
    args: Sequence[str],
    env: dict[str, str],
    *,
    deadline: float,
    timeout: float,
    secrets: Sequence[str] = (),
    cwd: Path | None = None,
) -> None:
    """Run git until `deadline` (time.monotonic()); then kill its process group and raise
    GitCommandError("fetch timed out after <timeout> s"). A failure raises the reason git gave."""
    if deadline - time.monotonic() <= 0:
        raise GitCommandError(_timed_out(timeout))
    try:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group: ssh and git-remote-* die with it
        )
    except OSError as err:
        raise GitCommandError(f"cannot run git: {err.strerror}") from None
    with _running_lock:
        _running.add(proc)
    try:
        stderr = _read_until(proc, deadline)
        if stderr is None:
            raise GitCommandError(_timed_out(timeout))
    finally:
        with _running_lock:
            _running.discard(proc)
            if proc.poll() is None:  # not reaped yet, so the group id still names our group
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    if proc.returncode != 0:
        raise GitCommandError(failure_reason(stderr, proc.returncode, secrets))


def _timed_out(timeout: float) -> str:
    return f"fetch timed out after {timeout:g} s"


def _read_until(proc: subprocess.Popen[bytes], deadline: float) -> str | None:
    """Git's stderr (its start), once git has exited; None when the deadline comes first."""
    assert proc.stderr is not None
    kept = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not selector.select(left):
                continue
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            if len(kept) < STDERR_KEPT:
                kept += chunk[: STDERR_KEPT - len(kept)]
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        return None
    return kept.decode("utf-8", "replace")


def failure_reason(stderr: str, returncode: int, secrets: Sequence[str] = ()) -> str:
    """The first relevant line of git's stderr, without prefix, secrets or a URL's password."""
    lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    chosen = ""
    for index, line in enumerate(lines):
        if line.startswith(("fatal:", "error:")):
            chosen = line.partition(":")[2].strip()
            # ssh's own message (connection refused, host key, permission denied) says more than git's.
            if chosen.startswith("Could not read from remote repository") and index > 0:
                chosen = f"{lines[index - 1]} ({chosen.rstrip('.')})"
            break
    if not chosen:
        chosen = lines[-1] if lines else f"git exited with status {returncode}"
    chosen = _URL_PASSWORD.sub(r"\1:***@", chosen)
    for secret in secrets:
        if secret:
            chosen = chosen.replace(secret, "***")
    return chosen if len(chosen) <= REASON_LENGTH else chosen[: REASON_LENGTH - 3] + "..."
