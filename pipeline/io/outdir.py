"""Output folder safety for `curate run`: where a run may write, what ``--overwrite`` may replace,
and the lock that keeps two runs out of one OUT.

A release is replaced the way a table format commits: the new run is staged under
``OUT/_staging/<run_id>/``, its shards are moved to paths the old release does not use, the new
manifest.json is renamed over the old one (the commit point), and only then are the old release's
files removed. Until that rename every reader, and ``curate verify``, sees the old release.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import socket
from dataclasses import dataclass


from pipeline.config import ConfigError
from pipeline.io.fs import FileSystems  # Beam's, imported only for remote paths and writes
from pipeline.io.manifest import LOCK, MANIFEST, REPORT, SHARD_PATH, STAGING, TABLES, is_machinery, list_files
from pipeline.io.versions import ARCHIVE_PATH, VERSIONS

_GLOB = re.compile(r"[*?\[]")


class OutputRefused(ConfigError):
    """OUT may not be written (dangerous location, foreign content, not empty): exit 2."""


class OutputBusy(OutputRefused):
    """Another live run holds OUT's lock: exit 2."""


def is_remote(uri: str) -> bool:
    return FileSystems.get_scheme(uri) not in (None, "file")


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _remote_key(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme.lower()}://{rest.strip('/')}"


def _root_of(uri: str) -> str:
    """The folder or file an ``--input`` names: a glob's fixed leading part."""
    match = _GLOB.search(uri)
    if match:
        fixed = uri[: match.start()]
        uri = fixed if fixed.endswith("/") else (os.path.dirname(fixed) if not is_remote(uri) else fixed.rsplit("/", 1)[0])
    return _remote_key(uri) if is_remote(uri) else _real(uri or ".")


def _within(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def check_location(out: str, inputs: list[str], files: list[dict]) -> None:
    """Refuse an OUT that is ``/``, a home folder or above one, or equal to, inside or above an input.

    Local paths are compared with symlinks resolved; remote URIs by prefix. Touches nothing.
    """
    remote = is_remote(out)
    target = _remote_key(out) if remote else _real(out)
    if not remote:
        if target == "/":
            raise OutputRefused(f"--output {out}: refusing to write to the root folder")
        homes = {_real(os.path.expanduser("~"))} | ({_real(os.environ["HOME"])} if os.environ.get("HOME") else set())
        for home in sorted(homes - {"/"}):  # HOME=/ (some containers): the root check above covers it
            if _within(home, target):
                what = "your home folder" if home == target else f"a folder holding your home folder {home}"
                raise OutputRefused(f"--output {out}: refusing to write to {what}")
        if os.path.exists(target) and not os.path.isdir(target):
            raise OutputRefused(f"--output {out}: exists and is not a folder")
    roots = [(uri, _root_of(uri)) for uri in inputs]
    roots += [(f["uri"], _remote_key(f["uri"]) if is_remote(f["uri"]) else _real(f["uri"])) for f in files]
    for given, root in roots:
        if is_remote(root) != remote:
            continue
        if root == target:
            raise OutputRefused(f"--output {out}: is the input {given}")
        if _within(target, root):
            raise OutputRefused(f"--output {out}: is inside the input {given}")
        if _within(root, target):
            raise OutputRefused(f"--output {out}: holds the input {given}")


def committed_run(out: str) -> str | None:
    """The run_id of OUT's manifest when it is a curate run manifest (not just any manifest.json)."""
    try:
        with FileSystems.open(FileSystems.join(out, MANIFEST)) as fh:
            data = json.loads(fh.read(64 * 1024 * 1024).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("run_id"), str) and isinstance(data.get("outputs"), list):
        return data["run_id"]
    return None


def release_files(out: str) -> list[str]:
    """OUT's files that are not run machinery (staging, lock), relative to OUT."""
    if not FileSystems.exists(out):
        return []
    return [rel for rel in list_files(out) if not is_machinery(rel)]


def check_contents(out: str, overwrite: bool) -> list[str]:
    """Refuse to replace anything but an earlier curate output; returns the files a run replaces.

    Empty, missing, or holding only run machinery (a killed run's staging): nothing to replace.
    Otherwise ``--overwrite`` is needed, and OUT must hold a curate manifest.json and nothing but
    curate's own names at its top level, or only shard files and a damaged manifest.json.
    """
    present = release_files(out)
    if not present:
        return []
    if not overwrite:
        raise OutputRefused(f"output folder is not empty: {out} (pass --overwrite to replace it)")
    top_level = {MANIFEST, REPORT, VERSIONS, *TABLES}
    foreign = [rel for rel in present if rel.split("/", 1)[0] not in top_level]
    if not foreign and committed_run(out) is None:
        foreign = [rel for rel in present if rel != MANIFEST and not SHARD_PATH.match(rel) and not ARCHIVE_PATH.match(rel)]
    if foreign:
        raise OutputRefused(
            f"--overwrite {out}: not an earlier curate output (it holds {foreign[0]}); "
            "curate replaces only a folder it wrote"
        )
    return present


# --- the run lock -----------------------------------------------------------------------------
def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live process from a reused pid); None off Linux."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = _process_start(pid)
    return start is None or now is None or now == start


def describe(holder: dict) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"


@dataclass
class RunLock:
    """``OUT/_curate.lock``: who runs into OUT (pid, host, start). A lock whose pid is dead on this
    host is stale and taken over. Locally the file is also held with ``flock``, so the kernel frees
    it when its holder dies however it dies. On object stores, which have no exclusive create
    through Beam's filesystems, each run writes a claim of its own and then lists the claims
    (:meth:`_acquire_remote`)."""

    out: str
    run_id: str
    took_over: dict | None = None
    _fd: int | None = None
    _claim: str | None = None  # this run's claim object (object stores)

    @property
    def path(self) -> str:
        return FileSystems.join(self.out, LOCK)

    def _info(self) -> bytes:
        pid = os.getpid()
        return json.dumps({
            "pid": pid, "host": socket.gethostname(), "run_id": self.run_id,
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "process_start": _process_start(pid),
        }).encode()

    def _stale(self, holder: dict | None) -> bool:
        if holder is None:
            return True  # unreadable: no live local holder (we hold its flock)
        if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
            return False  # another machine's run: cannot tell, so it is not ours to take
        return not _pid_alive(holder["pid"], holder.get("process_start"))

    def _busy(self, holder: dict | None, path: str | None = None) -> OutputBusy:
        who = describe(holder) if holder else "unknown holder"
        return OutputBusy(
            f"output folder {self.out} is in use by another curate run ({who}); "
            f"wait for it, or delete {path or self.path} if that run is gone"
        )

    def acquire(self) -> "RunLock":
        if is_remote(self.out):
            return self._acquire_remote()
        import fcntl

        for _ in range(10):
            temp = f"{self.path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            try:
                os.write(fd, self._info())
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # link() publishes the file complete and already locked, or fails if a lock exists
                os.link(temp, self.path)
                self._fd, fd = fd, None
                return self
            except FileExistsError:
                pass
            except OSError:  # a filesystem without hard links: exclusive create, then lock at once
                if self._create_in_place():
                    return self
            finally:
                os.unlink(temp)
                if fd is not None:
                    os.close(fd)
            try:
                fd = os.open(self.path, os.O_RDWR)
            except FileNotFoundError:
                continue  # released meanwhile: try again
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _parse(os.pread(fd, 4096, 0))
                os.close(fd)
                raise self._busy(holder) from None
            try:
                same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            holder = _parse(os.pread(fd, 4096, 0))
            if not same_file:
                os.close(fd)
                continue  # its holder removed it while we looked: try again
            if not self._stale(holder):
                os.close(fd)
                raise self._busy(holder)
            # Ours now (we hold its flock): rewrite it in place, so no other taker can slip in.
            os.ftruncate(fd, 0)
            os.pwrite(fd, self._info(), 0)
            self._fd, self.took_over = fd, holder or {}
            return self
        raise self._busy(None)

    def _create_in_place(self) -> bool:
        import fcntl

        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, self._info())
        self._fd = fd
        return True

    def _acquire_remote(self) -> "RunLock":
        """Claim, then look: this run writes its own claim object ``OUT/_curate.lock.<run id>.<random>``
        (no two runs write the same name), then lists every ``OUT/_curate.lock*``. Another claim
        whose holder is not known dead (or the lock file of an older curate) means OUT is busy: this
        run deletes its claim and is refused. Two runs cannot both go on when listing shows every
        object whose write has finished (GCS and S3 list that way): the later of the two lists
        sees the other's claim. Both may withdraw, when each lists after the other's claim
        appeared; then both are refused and OUT is free again."""
        self._claim_remote()
        try:
            return self._check_claims()
        except BaseException:
            self._withdraw()
            raise

    def _claim_remote(self) -> None:
        self._claim = FileSystems.join(self.out, f"{LOCK}.{self.run_id}.{secrets.token_hex(8)}")
        with FileSystems.create(self._claim) as fh:
            fh.write(self._info())

    def _check_claims(self) -> "RunLock":
        found = FileSystems.match([FileSystems.join(self.out, LOCK) + "*"])
        others = sorted({m.path for r in found for m in r.metadata_list} - {self._claim})
        for path in others:
            try:
                with FileSystems.open(path) as fh:
                    holder = _parse(fh.read(4096))
            except Exception:  # noqa: BLE001 - withdrawn meanwhile (or unreadable: see below)
                if not FileSystems.exists(path):
                    continue
                holder = None
            # An unreadable claim is not known dead: it may be another run's (no flock to ask here).
            if holder is None or not self._stale(holder):
                raise self._busy(holder, path)
            try:  # a dead run's claim: gone for every later run too
                FileSystems.delete([path])
            except Exception:  # noqa: BLE001 - another taker deleted it first
                pass
            self.took_over = holder
        return self

    def _withdraw(self) -> None:
        if self._claim is None:
            return
        try:
            FileSystems.delete([self._claim])
        except Exception:  # noqa: BLE001 - best effort: a dead run's claim is taken over later
            pass
        self._claim = None

    def release(self) -> None:
        if is_remote(self.out):
            self._withdraw()
            return
        if self._fd is None:
            return
        try:
            if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None


def _parse(data: bytes) -> dict | None:
    try:
        holder = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def remove_leftovers(out: str) -> None:
    """A killed run's staging and half-written manifest (call holding the lock)."""
    for rel in list_files(out):
        if rel.startswith(f".{MANIFEST}.") and rel.endswith(".tmp"):
            delete_quietly(FileSystems.join(out, rel))
    staging = FileSystems.join(out, STAGING)
    if FileSystems.exists(staging):
        delete_quietly(staging)
    from pipeline.io.versions import remove_uncommitted_archives

    remove_uncommitted_archives(out)


def remove_unlisted(out: str, keep: set[str]) -> list[str]:
    """After the commit: every release file not in the new manifest (the old release, and files
    an interrupted commit left) except the archive of earlier versions; returns what could not be removed."""
    failed = []
    for rel in release_files(out):
        if rel != MANIFEST and rel not in keep and not ARCHIVE_PATH.match(rel):
            try:
                FileSystems.delete([FileSystems.join(out, rel)])
            except OSError:
                failed.append(rel)
    return failed


def delete_quietly(path: str) -> None:
    try:
        FileSystems.delete([path])
    except OSError:
        pass
