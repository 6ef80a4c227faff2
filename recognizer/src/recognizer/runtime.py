"""The serving process's components and their background start-up.

The HTTP server answers /healthz at once; the model loads and the database is set up (indexes,
the 1:N index load) in background threads, and /readyz turns 200 only when both are done and the
database answers. A database that is down at start is retried until it comes back.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from recognizer import telemetry, wiring
from recognizer.config import Settings
from recognizer.faces.protocol import Embedder
from recognizer.sync.forward import Forwarder
from recognizer.sync.home import SyncSource
from recognizer.sync.replicator import Replicator
from recognizer.sync.wire import SiteStatus

log = logging.getLogger(__name__)
#: how often expired audit entries, lockouts and revoked tokens are purged (FerretDB has no TTL indexes).
PURGE_EVERY_S = 600.0
#: how often the home announces user writes whose writer died before announcing them.
REPAIR_EVERY_S = 30.0

EmbedderLoader = Callable[[Settings], Embedder]


class Runtime:
    """Settings, storage, index, service and model of one serving process, started in the background."""

    def __init__(self, settings: Settings, *, embedder_loader: EmbedderLoader = wiring.load_embedder) -> None:
        settings.check_secrets()
        self.settings = settings
        self.repo = wiring.repository(settings)
        self.index = wiring.embedding_index(settings, self.repo)
        self.recognizer = wiring.recognizer(settings, self.repo, self.index)
        # Fleet-wide users: a home serves the sync routes; a replica pulls, gates logins, forwards writes.
        self.sync_source: SyncSource | None = None
        self.replicator: Replicator | None = None
        self.forwarder: Forwarder | None = None
        if settings.is_replica:
            client = wiring.home_client(settings)
            self.replicator = Replicator(settings, self.repo, self.index, client)
            self.forwarder = Forwarder(client, self.replicator, settings.sync_wait_s)
            self.recognizer.login_gate = self.replicator.check_fresh
        else:
            self.sync_source = SyncSource(self.repo)
        self.model_error: str | None = None
        self.db_ready = False
        self._loader = embedder_loader
        self._stop = threading.Event()

    @property
    def embedder(self) -> Embedder | None:
        return self.recognizer.embedder

    @property
    def detector(self) -> str:
        return self.embedder.detector_name if self.embedder is not None else self.settings.detector

    def start(self) -> None:
        threading.Thread(target=self._load_model, name="model-load", daemon=True).start()
        threading.Thread(target=self._database_loop, name="db-setup", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self.replicator is not None:
            self.replicator.stop()
        self.index.stop()
        self.repo.close()
        if self.embedder is not None:
            self.embedder.close()

    def _load_model(self) -> None:
        start = time.perf_counter()
        try:
            self.recognizer.embedder = self._loader(self.settings)
        except Exception as exc:  # a process that can never be ready stops (exit code 1, see cli.serve)
            self.model_error = str(exc)
            log.exception("model failed to load; stopping")
            os.kill(os.getpid(), signal.SIGTERM)
            return
        log.info(
            "model loaded",
            extra={"fields": {"seconds": round(time.perf_counter() - start, 2), "detector": self.detector}},
        )

    def _database_loop(self) -> None:
        """Set up indexes and load the 1:N index (retrying while the DB is down), then purge periodically."""
        while not self._stop.is_set():
            try:
                self.repo.ensure_indexes()
                while not self.index.reload():
                    pass
                break
            except Exception as exc:
                log.warning("database not ready, retrying", extra={"fields": {"error": str(exc)}})
                self._stop.wait(1.0)
        if self._stop.is_set():
            return
        self.db_ready = True
        telemetry.INDEX_EMBEDDINGS.set(len(self.index.snapshot.matrix))
        self.index.start()
        if self.replicator is not None:
            self.replicator.start()
        if self.sync_source is not None:
            self._quietly("announcing users older than the change log", self.repo.announce_unstamped)
        last_purge = -PURGE_EVERY_S
        while not self._stop.is_set():
            if time.monotonic() - last_purge >= PURGE_EVERY_S:
                last_purge = time.monotonic()
                self._quietly("purge", self.repo.purge_expired)
            if self.sync_source is not None:
                self._quietly("change repair", self.repo.repair_changes)
            self._stop.wait(REPAIR_EVERY_S)

    @staticmethod
    def _quietly(what: str, job: Callable[[], object]) -> None:
        try:
            job()
        except Exception as exc:
            log.warning(f"{what} failed", extra={"fields": {"error": str(exc)}})

    def site_status(self) -> SiteStatus:
        if self.replicator is not None:
            return self.replicator.status()
        return SiteStatus(
            site=self.settings.site,
            role="home",
            last_sync_at=None,
            lag_s=None,
            changes_behind=None,
            offline=False,
            stale=False,
            max_staleness_s=None,
        )

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason): the model is loaded, the DB was set up and answers a ping now."""
        if self.embedder is None:
            return False, self.model_error or "the face model is still loading"
        if not self.db_ready or not self.index.loaded:
            return False, "the database is not set up yet"
        try:
            self.repo.ping()
        except Exception:
            return False, "the database is unreachable"
        return True, "ready"
