"""Optuna storages for searches, and the lock that keeps a study's trial count exact.

A storage is given as an Optuna URL (sqlite:///f.db, postgresql://..., mysql+pymysql://...) or
as a path to a journal file (several processes on one machine). RDB storages get a heartbeat, so
a trial whose worker died is marked failed after the grace period and retried.

Several workers (processes, machines) share one budget of n_trials. Each asks for a trial only
while holding a study-wide lock and after counting the trials already claimed, so the total is
exact: a file lock (fcntl) for SQLite and journal files, an advisory lock for PostgreSQL,
GET_LOCK for MySQL.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages.journal import JournalFileBackend

from dla_explorer.core.errors import DlaError
from dla_explorer.core.fileio import FileLock, cut_torn_tail
from dla_explorer.core.secrets import redact
from dla_explorer.dse.spec import Heartbeat

SCHEMA_ATTEMPTS = 5
__all__ = ["FileLock", "OpenedStorage", "open_storage", "redact"]


def normalise_url(url: str) -> str:
    """postgresql:// uses psycopg2 by default in SQLAlchemy; use psycopg 3 when only it is
    installed (the driver this project installs).

    Args:
        url: an SQLAlchemy / Optuna storage URL.

    Returns:
        The URL, with postgresql+psycopg:// for a postgresql:// or postgres:// URL when psycopg2 is
        not installed; any other URL unchanged.
    """
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_url(target: str) -> bool:
    """True for a storage URL (it has '://'), False for a journal file path.

    Args:
        target: what the user gave as storage.

    Returns:
        Whether `target` is a URL.
    """
    return "://" in target


@dataclass
class OpenedStorage:
    storage: optuna.storages.BaseStorage
    lock: contextlib.AbstractContextManager
    url: str
    _study_ids: dict[str, int] = field(default_factory=dict)

    @property
    def exclusive(self) -> bool:
        """True when `lock` really excludes other workers (not a no-op)."""
        return not isinstance(self.lock, contextlib.nullcontext)

    def study_id(self, name: str) -> int:
        """The storage's id of a study (asked once per name, then remembered).

        Args:
            name: the study name.

        Returns:
            The study id.

        Raises:
            KeyError: the storage holds no study `name` (Optuna's error).
        """
        if name not in self._study_ids:
            self._study_ids[name] = self.storage.get_study_id_from_name(name)
        return self._study_ids[name]


class JournalLock:
    """The journal file's write lock: an fcntl lock the kernel releases when its process dies.
    Optuna's default (a symlink lock file) survived kill -9 in 4 of 8 tries and the resume then
    waited out its 30 s grace period. Optuna calls acquire() / release() on it."""

    def __init__(self, journal: Path) -> None:
        self._lock = FileLock(Path(f"{journal}.flock"))

    def acquire(self) -> bool:
        """Block until this process holds the lock.

        Returns:
            True (Optuna's lock protocol).
        """
        self._lock.__enter__()
        return True

    def release(self) -> None:
        """Release the lock."""
        self._lock.__exit__()


def open_storage(target: str, heartbeat: Heartbeat, study_name: str, create: bool = True) -> OpenedStorage:
    """An Optuna storage with its budget lock; an unreachable URL is a one-line DlaError. With
    create=False (readers such as `show`) a missing journal or SQLite file is an error instead
    of being created.

    Args:
        target: an Optuna URL (sqlite:///f.db, postgresql://..., mysql+pymysql://...) or a journal
            file path.
        heartbeat: heartbeat interval, grace period (s) and retries of RDB storages.
        study_name: the study whose budget the lock guards (the key of PostgreSQL and MySQL locks).
        create: create a missing journal or SQLite file (and its folder); False refuses it.

    Returns:
        The storage, its budget lock (a no-op for in-memory SQLite and other URLs) and `target`.

    Raises:
        DlaError: with create=False, the journal or SQLite file is missing; or the storage cannot be
            opened (unreachable server, missing driver, bad URL), with the password redacted.
    """
    if not is_url(target):
        path = Path(target)
        if not create and not path.is_file():
            raise DlaError(f"{path}: journal file not found")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        lock = JournalLock(path)
        if create:
            lock.acquire()
            try:  # a write torn by a full disk or a kill: drop it, or no later run could read on
                cut_torn_tail(path)
            finally:
                lock.release()
        backend = JournalFileBackend(str(path), lock_obj=lock)  # type: ignore[arg-type]  # duck-typed lock
        return OpenedStorage(
            optuna.storages.JournalStorage(backend), FileLock(Path(f"{path}.budget.lock")), target
        )
    url = normalise_url(target)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        database = url.split(":///", 1)[-1]
        if database and database != ":memory:":
            if not create and not Path(database).is_file():
                raise DlaError(f"{database}: study database not found")
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # several local processes share the file: wait for the write lock rather than fail
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    else:
        kwargs["engine_kwargs"] = {"pool_pre_ping": True}
        if url.startswith("postgres"):  # an unreachable host fails in seconds, not minutes
            kwargs["engine_kwargs"]["connect_args"] = {"connect_timeout": 10}
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(
                    url,
                    heartbeat_interval=heartbeat.interval,
                    grace_period=heartbeat.grace_period,
                    heartbeat_stale_trial_callback=retry_callback(heartbeat),
                    **kwargs,
                )
            break
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as exc:
            # workers starting together on a new database race to create Optuna's tables;
            # the losers see them appear mid-way and simply connect again
            racing = any(w in str(exc).lower() for w in ("already exists", "duplicate", "locked", "unique"))
            if not racing or attempt == SCHEMA_ATTEMPTS - 1:
                raise DlaError(f"storage '{redact(target)}': cannot open it: {_first_line(exc)}") from None
            time.sleep(0.2 * (attempt + 1))
    if url.startswith("sqlite"):
        sqlalchemy.event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()  # reconnect with the pragmas
    return OpenedStorage(storage, _rdb_lock(url, study_name, storage), target)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Write-ahead logging: a commit is one append, not a rewrite with two fsyncs (several times
    faster per trial); committed trials still survive a killed process."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def retry_callback(heartbeat: Heartbeat) -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    """Optuna's callback that re-queues a trial whose heartbeat went stale.

    Args:
        heartbeat: the spec's heartbeat settings (max_retry: retries per trial).

    Returns:
        The RetryHeartbeatStaleTrialCallback.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=heartbeat.max_retry)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _rdb_lock(
    url: str, study_name: str, storage: optuna.storages.RDBStorage
) -> contextlib.AbstractContextManager:
    if url.startswith("sqlite"):
        database = url.split(":///", 1)[-1]
        if database and database != ":memory:":
            return FileLock(Path(f"{database}.budget.lock"))
        return contextlib.nullcontext()
    key = zlib.crc32(f"dla-explorer:{study_name}".encode())
    if url.startswith("postgres"):
        return SqlLock(storage.engine, "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)", key)
    if url.startswith("mysql"):
        return SqlLock(
            storage.engine, "SELECT GET_LOCK(:k, -1)", "SELECT RELEASE_LOCK(:k)", f"dla-explorer:{key}"
        )
    return contextlib.nullcontext()


class SqlLock:
    """A database session lock (held by one connection; released if the worker dies)."""

    def __init__(self, engine: sqlalchemy.Engine, acquire: str, release: str, key: Any) -> None:
        self.engine, self.key = engine, key
        self.acquire, self.release = sqlalchemy.text(acquire), sqlalchemy.text(release)
        self._connection: sqlalchemy.Connection | None = None

    def __enter__(self) -> SqlLock:
        self._connection = self.engine.connect()
        self._connection.execute(self.acquire, {"k": self.key})
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._connection is not None
        try:
            self._connection.execute(self.release, {"k": self.key})
            self._connection.commit()
        finally:
            self._connection.close()


# -- which process runs a trial ------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def worker_id() -> str:
    """host:pid:start of this process, recorded on each trial it runs.

    Returns:
        'host:pid:start' (start empty where /proc is not readable).
    """
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid()) or ''}"


def is_dead_local(worker: str | None) -> bool:
    """True only when `worker` ran on this machine and that process no longer exists.

    Args:
        worker: a trial's `worker` attribute (host:pid:start, see worker_id), or None.

    Returns:
        True when the process is gone or its pid was reused; False for other machines, live
        processes and malformed values.
    """
    if not worker or worker.count(":") < 2:
        return False
    host, pid, start = worker.rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit() or not start:
        return False
    return _start_time(int(pid)) != start


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna warnings that are expected here: experimental features (heartbeat with ask/tell,
    multivariate TPE) and the deprecated option search.TPE_DEFAULTS passes on purpose.

    Yields:
        None, with those warnings ignored inside the block.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*Heartbeat.*")
        warnings.filterwarnings("ignore", message=".*consider_endpoints.*")  # see TPE_DEFAULTS
        # a re-queued trial may carry the constraints its killed worker had already set
        warnings.filterwarnings("ignore", message=".*constraint value is ignored.*")
        yield
