"""The composition root: settings -> storage (with its cipher) -> face embedder -> service.

Everything that builds the recognizer's parts from `Settings` lives here, outside the HTTP layer,
so `serve` (through api/ and runtime.py) and the offline commands (`embed`, `compare`, `rekey`)
assemble the same parts the same way.
"""

from __future__ import annotations

from recognizer.config import Settings
from recognizer.faces.protocol import Embedder
from recognizer.index import EmbeddingIndex
from recognizer.service import Recognizer
from recognizer.storage import EmbeddingCipher, Repository
from recognizer.sync.client import HomeClient
from recognizer.tokens import TokenIssuer


def embedding_cipher(settings: Settings) -> EmbeddingCipher:
    """The current embedding key, plus the previous one while a rotation is under way."""
    previous = [settings.embedding_key_previous] if settings.embedding_key_previous else []
    return EmbeddingCipher(settings.embedding_key, previous=previous)


def repository(settings: Settings) -> Repository:
    """The database, with the settings' timeouts, retention and credentials."""
    return Repository(
        settings.mongo_url,
        settings.mongo_db,
        embedding_cipher(settings),
        timeout_ms=settings.db_timeout_ms,
        audit_retention_s=settings.audit_retention_s,
        sync_retention_s=settings.sync_retention_s,
        username=settings.db_username,
        password=settings.db_password,
    )


def load_embedder(settings: Settings) -> Embedder:
    """The face pipeline: in FACEFLEET_MODEL_PROCESSES worker processes, or in this one when that is 0.

    Imports dlib and DeepFace only here, when a model is really wanted.
    """
    from recognizer.faces.embedder import FaceEmbedder, PipelineOptions

    options = PipelineOptions(
        detector=settings.detector,
        min_face_px=settings.min_face_px,
        max_image_bytes=settings.max_image_bytes,
        max_pixels=settings.max_pixels,
        engine=settings.engine,
    )
    if settings.model_processes > 0:
        from recognizer.faces.pool import EmbedderPool

        return EmbedderPool.load(settings.model_processes, options)
    return FaceEmbedder.from_options(options)


def embedding_index(settings: Settings, repo: Repository) -> EmbeddingIndex:
    return EmbeddingIndex(repo, refresh_s=settings.index_refresh_s, full_reload_s=settings.index_full_reload_s)


def recognizer(settings: Settings, repo: Repository, index: EmbeddingIndex) -> Recognizer:
    """The service's use cases; its embedder is attached once the model has loaded."""
    return Recognizer(settings, repo, index, TokenIssuer(settings.token_secret, settings.token_ttl_s))


def home_client(settings: Settings) -> HomeClient:
    """A replica's client of its home (FACEFLEET_HOME_URL, with the site credential)."""
    return HomeClient(settings)
