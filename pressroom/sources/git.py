"""git sources: a shallow fetch of one ref with the `git` binary, fenced in.

Accepted: `https://host/repo.git[#ref]` (also `git+https://`), and `file://` repositories
under a configured source root (`git+file://`, or a `file://` URL ending in `.git` or with a
`#ref`). The fence around git:

* `GIT_ALLOW_PROTOCOL` is `https` (plus `file` only for a `file://` repository under a
  configured source root), so `ext::`, `ssh`, `git://` never run even if such a URL got here;
* the URL comes after `--`, and refs are validated, so option-shaped input (`--upload-pack=`)
  is never parsed as an option;
* no system or global git config (no credential helpers, URL rewrites, proxies, filters),
  no templates or hooks, no submodules, no redirects, no terminal prompts;
* https hosts are resolved and checked by the network policy first, and git is pinned to the
  checked addresses (`http.curloptResolve`), so DNS rebinding cannot redirect it;
* a time limit and a size limit on the clone directory, enforced while git runs.

Error text from git is redacted (no userinfo) before it is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver

from pressroom.security.netguard import DestinationRefused, NetworkPolicy
from pressroom.security.redact import redact_url
from pressroom.sources.errors import SourceError, SourceUnavailable
from pressroom.sources.local import LocalSources, allowed_local, local_path
from pressroom.sources.tree import SourceLimits

__all__ = ["fetch_git", "is_git_url", "split_ref"]

# A branch, tag or commit: no leading '-', no '..', no ':' (refspec), no spaces or '@{'.
_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}$")
_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_TRANSIENT = re.compile(
    r"could not resolve host|timed out|failed to connect|connection (?:reset|refused)|"
    r"rpc failed|early eof|remote end hung up|"
    r"http (?:408|429|5\d\d)|returned error: (?:408|429|5\d\d)",
    re.IGNORECASE,
)
_POLL_S = 0.25


def split_ref(url: str) -> tuple[str, str | None]:
    """`https://h/r.git#v1` -> ("https://h/r.git", "v1"); the ref is validated."""
    base, _, ref = url.partition("#")
    if not ref:
        return base, None
    if not _REF.match(ref) or ref.endswith((".lock", "/", ".")):
        raise SourceError(f"invalid git ref {ref!r}")
    return base, ref


def is_git_url(url: str) -> bool:
    lowered = url.lower()
    if lowered.startswith(("git+https://", "git+file://")):
        return True
    base, _, ref = url.partition("#")
    return bool(ref) or urlsplit(base).path.rstrip("/").endswith(".git")


def _git_env(home: Path, allow_file: bool) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C",
        "GIT_ALLOW_PROTOCOL": "https:file" if allow_file else "https",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
    }


_FENCE = (
    "-c", "http.followRedirects=false",
    "-c", "core.hooksPath=" + os.devnull,
    "-c", "core.askPass=",
    "-c", "credential.helper=",
    "-c", "submodule.recurse=false",
    "-c", "fetch.recurseSubmodules=false",
    "-c", "protocol.version=2",
    "-c", "advice.detachedHead=false",
)  # fmt: skip


def _redact(text: str, url: str) -> str:
    text = text.replace(url, redact_url(url))
    return _USERINFO.sub(r"\1", text)


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


async def _run_git(
    args: Sequence[str],
    *,
    env: dict[str, str],
    deadline: float,
    watch: Path | None = None,
    max_bytes: int = 0,
    url: str = "",
) -> None:
    """Run git; SourceError/SourceUnavailable with redacted stderr when it fails."""
    loop = asyncio.get_running_loop()
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # so a kill reaches git's helpers (remote-https) too
    )
    stderr_task = asyncio.create_task(proc.stderr.read() if proc.stderr else asyncio.sleep(0))
    reason: str | None = None
    try:
        while proc.returncode is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                reason = "timeout"
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), timeout=min(_POLL_S, remaining))
            if watch is not None and proc.returncode is None:
                if await asyncio.to_thread(_tree_bytes, watch) > max_bytes:
                    reason = "size"
                    break
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    stderr = (await stderr_task or b"").decode("utf-8", "replace")
    shown = redact_url(url)
    if reason == "timeout":
        raise SourceUnavailable(f"git fetch of {shown} did not finish in time")
    if reason == "size":
        raise SourceError(f"git repository {shown} is larger than max_source_bytes={max_bytes}")
    if proc.returncode != 0:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        detail = _redact(" / ".join(lines[-3:]), url)[:500] or f"exit {proc.returncode}"
        if _TRANSIENT.search(stderr):
            raise SourceUnavailable(f"git fetch of {shown} failed: {detail}")
        raise SourceError(f"git fetch of {shown} failed: {detail}")


async def _checked_https(
    base: str, policy: NetworkPolicy, resolver: AbstractResolver | None
) -> list[str]:
    """Resolve and check the https host; returns `-c http.curloptResolve=...` args."""
    parts = urlsplit(base)
    host = parts.hostname
    if not host:
        raise SourceError(f"git URL without a host: {redact_url(base)!r}")
    if policy.host_allowed(host):
        return []
    try:
        port = parts.port or 443
        addresses = await policy.resolve_checked(host, port, resolver)
    except DestinationRefused as exc:
        raise SourceError(f"git URL {redact_url(base)!r}: {exc}") from None
    except OSError as exc:
        raise SourceUnavailable(f"cannot resolve {host}: {type(exc).__name__}") from None
    pinned = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
    return ["-c", f"http.curloptResolve={host}:{port}:{pinned}"]


def _local_remote(base: str, roots: Sequence[Path], local_sources: LocalSources) -> str:
    """The `file://` URI of a local repository the source policy accepts."""
    if not roots:
        raise SourceError("git over file:// needs SOURCE_ROOTS to be configured")
    path = allowed_local(local_path(base), roots, local_sources)
    if not path.exists():
        raise SourceError(f"git repository not found: {path}")
    return path.as_uri()


async def fetch_git(
    url: str,
    staging: Path,
    limits: SourceLimits,
    *,
    policy: NetworkPolicy,
    roots: Sequence[Path],
    timeout_s: float,
    resolver: AbstractResolver | None = None,
    local_sources: LocalSources = "any",
) -> Path:
    """Fetch one ref of a git repository into `staging/repo` (working tree, plus `.git`).

    `local_sources` is the LOCAL_SOURCES policy (sources.local): `off` refuses file://."""
    bare = url[4:] if url.lower().startswith("git+") else url
    base, ref = split_ref(bare)
    scheme = urlsplit(base).scheme.lower()
    if scheme == "https":
        pin = await _checked_https(base, policy, resolver)
        remote = base
    elif scheme == "file":
        pin, remote = [], _local_remote(base, roots, local_sources)
    else:
        raise SourceError(
            f"unsupported git URL {redact_url(url)!r}: only https:// "
            "(and file:// under SOURCE_ROOTS) repositories are fetched"
        )
    if remote.startswith("-"):  # unreachable after the checks above; cheap to keep
        raise SourceError("git URL must not start with '-'")
    repo = staging / "repo"
    env = _git_env(staging, allow_file=scheme == "file")
    deadline = asyncio.get_running_loop().time() + timeout_s
    await _run_git(["init", "--quiet", "--template=", str(repo)], env=env, deadline=deadline)
    await _run_git(
        [
            "-C", str(repo), *_FENCE, *pin,
            "fetch", "--quiet", "--depth", "1", "--no-tags", "--no-recurse-submodules",
            "--", remote, ref or "HEAD",
        ],
        env=env,
        deadline=deadline,
        watch=repo,
        max_bytes=limits.max_total_bytes,
        url=url,
    )  # fmt: skip
    await _run_git(
        ["-C", str(repo), *_FENCE, "checkout", "--quiet", "--detach", "FETCH_HEAD"],
        env=env,
        deadline=deadline,
        watch=repo,
        # Working tree plus the packed history: allow the history its own budget.
        max_bytes=2 * limits.max_total_bytes,
        url=url,
    )
    return repo
