"""Optuna storages from a URL: in-memory, SQLite, Journal file, PostgreSQL (or any RDB)."""

from __future__ import annotations

from pathlib import Path

import optuna


class StorageError(ValueError):
    """A storage that cannot be used: the message names the URL and the reason."""


def _redact(url: str) -> str:
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def create_storage(
    url: str | None, *, workers: int = 1, heartbeat_interval: int = 10, must_exist: bool = False
) -> optuna.storages.BaseStorage | None:
    """Open an Optuna storage.

    Args:
        url: None or ``"memory"`` (in-memory, one process); ``sqlite:///FILE`` (one process);
            ``journal:FILE`` or a path ending in ``.journal``/``.log`` (a Journal file shared
            by several processes on one host); ``postgresql://...`` or another SQLAlchemy URL
            (several machines).
        workers: how many processes will use it; SQLite with more than one is refused.
        heartbeat_interval: seconds between heartbeats of running trials (RDB storages); a trial
            silent for 3 intervals is failed and retried once more (up to 3 retries).
        must_exist: refuse to create a SQLite or Journal file that is not there yet (for
            commands that only read a study: a mistyped path must not leave an empty database).

    Raises:
        StorageError: SQLite with several workers, an unreachable server, a bad URL.

    Example:
        >>> create_storage(None) is None
        True
    """
    if url is None or url in ("", "memory", ":memory:"):
        if workers > 1:
            raise StorageError("an in-memory storage cannot be shared by several workers")
        return None
    if url.startswith("journal:") or url.endswith((".journal", ".log")):
        path = Path(url.split(":", 1)[1] if url.startswith("journal:") else url)
        if not path.parent.exists():
            raise StorageError(f"journal storage {path}: folder {path.parent} does not exist")
        if must_exist and not path.is_file():
            raise StorageError(f"journal storage {path} does not exist")
        backend = optuna.storages.journal.JournalFileBackend(
            str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path))
        )
        return optuna.storages.journal.JournalStorage(backend)
    if "://" not in url:
        raise StorageError(
            f"storage {url!r} is not a URL; use sqlite:///FILE, journal:FILE or postgresql://..."
        )
    if must_exist and url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if url != "sqlite:///:memory:" and not path.is_file():
            raise StorageError(f"SQLite storage {path} does not exist")
    if url.startswith("sqlite") and workers > 1:
        raise StorageError(
            f"SQLite storage {url} is for one process only, but {workers} workers were asked "
            "for; use journal:FILE (one host) or postgresql://... (several machines)"
        )
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None,
                heartbeat_interval=heartbeat_interval,
                grace_period=3 * heartbeat_interval,
                heartbeat_stale_trial_callback=retry,
            )
    except ImportError as error:
        raise StorageError(
            f"storage {_redact(url)}: a database driver is missing ({error}); "
            "for PostgreSQL install ntknas[postgres]"
        ) from None
    except Exception as error:  # noqa: BLE001 - sqlalchemy raises many kinds
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StorageError(f"cannot open storage {_redact(url)}: {first}") from None
