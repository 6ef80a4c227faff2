"""The process's components and their background start-up.

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
from typing import Any

from recognizer import telemetry
from recognizer.config import Settings
from recognizer.index import EmbeddingIndex
from recognizer.service import Recognizer
from recognizer.storage import EmbeddingCipher, Repository
from recognizer.tokens import TokenIssuer

log = logging.getLogger(__name__)
PURGE_EVERY_S = 600.0


def load_embedder(settings: Settings) -> Any:
    from recognizer.faces.embedder import DEFAULT_DETECTOR, FaceEmbedder

    kwargs = dict(detector=settings.detector or DEFAULT_DETECTOR, min_face_px=settings.min_face_px,
                  max_image_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels)
    if settings.model_processes > 0:
        from recognizer.faces.pool import EmbedderPool

        return EmbedderPool.load(settings.model_processes, **kwargs)
    return FaceEmbedder.load(**kwargs)


def settings_cipher(settings: Settings) -> EmbeddingCipher:
    """The current embedding key, plus the previous one while a rotation is under way."""
    previous = [settings.embedding_key_previous] if settings.embedding_key_previous else []
    return EmbeddingCipher(settings.embedding_key, previous=previous)


class Runtime:
    def __init__(self, settings: Settings, *, embedder_loader: Callable[[Settings], Any] = load_embedder) -> None:
        settings.check_secrets()
        self.settings = settings
        self.repo = Repository(settings.mongo_url, settings.mongo_db, settings_cipher(settings),
                               timeout_ms=settings.db_timeout_ms, audit_retention_s=settings.audit_retention_s,
                               username=settings.db_username, password=settings.db_password)
        self.index = EmbeddingIndex(self.repo, refresh_s=settings.index_refresh_s,
                                    full_reload_s=settings.index_full_reload_s)
        self.tokens = TokenIssuer(settings.token_secret, settings.token_ttl_s)
        self.embedder: Any = None
        self.model_error: str | None = None
        self.db_ready = False
        self.recognizer = Recognizer(settings, self.repo, self.index, self.tokens, lambda: self.embedder)
        self._loader = embedder_loader
        self._stop = threading.Event()

    @property
    def detector(self) -> str:
        return getattr(self.embedder, "detector_name", self.settings.detector or "default")

    def start(self) -> None:
        threading.Thread(target=self._load_model, name="model-load", daemon=True).start()
        threading.Thread(target=self._database_loop, name="db-setup", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.index.stop()
        self.repo.close()
        close = getattr(self.embedder, "close", None)  # the worker processes of an EmbedderPool
        if close is not None:
            close()

    def _load_model(self) -> None:
        start = time.perf_counter()
        try:
            self.embedder = self._loader(self.settings)
        except Exception as exc:  # a process that can never be ready stops (exit code 1, see cli.serve)
            self.model_error = str(exc)
            log.exception("model failed to load; stopping")
            os.kill(os.getpid(), signal.SIGTERM)
            return
        log.info("model loaded", extra={"fields": {"seconds": round(time.perf_counter() - start, 2),
                                                    "detector": self.detector}})

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
        while not self._stop.is_set():
            try:
                self.repo.purge_expired()
            except Exception as exc:
                log.warning("purge failed", extra={"fields": {"error": str(exc)}})
            self._stop.wait(PURGE_EVERY_S)

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
