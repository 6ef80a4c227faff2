"""Domain orchestration: enrol, add faces, verify (1:1) and identify (1:N), compare, delete, lockout.

No HTTP here: every failure is a FacefleetError with a contract code, which the API layer maps.
Rejected requests store nothing: images are embedded (and rejected) before any write; login
attempts that reach a decision are audited, without images or embeddings.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from recognizer import telemetry
from recognizer.config import Settings
from recognizer.defaults import ATTEMPTS_LIMIT, USERNAME_PATTERN, USERNAME_RULE
from recognizer.errors import ErrorCode, FacefleetError
from recognizer.faces import metric
from recognizer.faces.protocol import Embedder
from recognizer.index import EmbeddingIndex, Enrolled
from recognizer.ratelimit import FailureLimiter
from recognizer.storage import Attempt, Repository, UserRecord
from recognizer.tokens import Claims, TokenIssuer

log = logging.getLogger(__name__)
#: the two login modes, as audited and counted (facefleet_login_attempts_total{mode}).
VERIFY, IDENTIFY = "verify", "identify"
USERNAME_RE = re.compile(USERNAME_PATTERN)


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise FacefleetError(ErrorCode.INVALID_USERNAME, USERNAME_RULE)
    return username


@dataclass(frozen=True)
class LoginResult:
    username: str
    distance: float
    threshold: float
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Comparison:
    distance: float
    threshold: float
    match: bool


class Recognizer:
    """The service's use cases, over a repository, an index, a token issuer and a face embedder.

    `embedder` is None while the model loads in the background (runtime.py); the face routes
    answer 503 unavailable until it is attached. On a replica site, `login_gate` (set by
    runtime.py) raises 503 replica_stale before a login when the copy of the users is too old.
    """

    def __init__(
        self,
        settings: Settings,
        repo: Repository,
        index: EmbeddingIndex,
        tokens: TokenIssuer,
        embedder: Embedder | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.index = index
        self.tokens = tokens
        self.embedder = embedder
        self._now = now or (lambda: datetime.now(UTC))
        self._model_slots = threading.BoundedSemaphore(max(settings.model_threads, settings.model_processes))
        self.identify_limiter = FailureLimiter(settings.identify_rate_failures, settings.identify_rate_window_s)
        self.login_gate: Callable[[], None] = lambda: None

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    # -- the face pipeline ------------------------------------------------------------------
    def embed(self, data: bytes) -> np.ndarray:
        """The one face's embedding in one upload."""
        vector: np.ndarray = self._embed_batch([data])[0]
        return vector

    def _embed_batch(self, images: Sequence[bytes]) -> np.ndarray:
        """Every upload's face, embedded in one pipeline call (one forward pass for all of them)."""
        emb = self.embedder
        if emb is None:
            raise FacefleetError(ErrorCode.UNAVAILABLE, "The face model is still loading; try again shortly.")
        for data in images:
            if len(data) > self.settings.max_image_bytes:
                raise FacefleetError(
                    ErrorCode.IMAGE_TOO_LARGE, f"An image may have at most {self.settings.max_image_bytes} bytes."
                )
        with self._model_slots:  # bounds concurrent pipeline calls; the wait is not model time
            start = time.perf_counter()
            outcome = "ok"
            try:
                faces = emb.embed_many(list(images))
                return np.vstack([np.asarray(f.embedding, dtype=np.float32).reshape(1, -1) for f in faces])
            except FacefleetError as exc:
                outcome = exc.code.value
                raise
            finally:
                telemetry.MODEL_SECONDS.labels(outcome=outcome).observe(time.perf_counter() - start)

    @property
    def model_name(self) -> str:
        return metric.MODEL_NAME

    def _embed_all(self, images: Sequence[bytes]) -> np.ndarray:
        if not images:
            raise FacefleetError(ErrorCode.MISSING_FIELD, "At least one image is required.")
        if len(images) > self.settings.max_images:
            raise FacefleetError(ErrorCode.IMAGE_TOO_LARGE, f"At most {self.settings.max_images} images per request.")
        return self._embed_batch(images)

    # -- users ------------------------------------------------------------------------------
    def enrol(self, username: str, images: Sequence[bytes], *, consent: bool = True) -> UserRecord:
        check_username(username)
        if not consent:
            raise FacefleetError(ErrorCode.MISSING_FIELD, "Consent is required before storing biometric data.")
        if self._exists(username):  # a cheap check before the costly embedding
            raise FacefleetError(ErrorCode.USER_EXISTS, f"User {username!r} already exists.")
        embeddings = self._embed_all(images)
        user = self.repo.create_user(username, embeddings, model=self.model_name, consent=True)
        self._changed(username, embeddings, user.id)
        log.info("user enrolled", extra={"fields": {"username": username, "faces": user.faces}})
        return user

    def add_faces(self, username: str, images: Sequence[bytes]) -> UserRecord:
        check_username(username)
        if self.repo.get_user(username) is None:
            raise FacefleetError(ErrorCode.NOT_FOUND, f"No user named {username!r}.")
        embeddings = self._embed_all(images)
        user = self.repo.add_faces(username, embeddings, model=self.model_name)
        fresh = self.repo.get_user(username, with_embeddings=True)
        self._changed(username, None if fresh is None else fresh.embeddings, user.id)
        log.info("faces added", extra={"fields": {"username": username, "faces": user.faces}})
        return user

    def list_users(self) -> list[UserRecord]:
        return self.repo.list_users()

    def get_user(self, username: str) -> UserRecord:
        check_username(username)
        user = self.repo.get_user(username)
        if user is None:
            raise FacefleetError(ErrorCode.NOT_FOUND, f"No user named {username!r}.")
        return user

    def delete_user(self, username: str) -> int:
        """Delete the user; returns the change's seq (the replicas apply it as a tombstone)."""
        check_username(username)
        seq = self.repo.delete_user(username)
        if seq is None:
            raise FacefleetError(ErrorCode.NOT_FOUND, f"No user named {username!r}.")
        self._changed(username, None)
        log.info("user deleted", extra={"fields": {"username": username}})
        return seq

    def _changed(self, username: str, embeddings: np.ndarray | None, uid: str = "") -> None:
        """Bump the change counter and apply the change to this replica's index.

        The change is already stored. If the bump fails, the index still applies it here and its
        refresh thread bumps the counter once the database answers again (other replicas see the
        change then); the caller gets the 503.
        """
        try:
            version = self.repo.bump_version()
        except FacefleetError:
            self.index.apply(username, embeddings, self.model_name, None, uid=uid)
            raise
        self.index.apply(username, embeddings, self.model_name, version, uid=uid)
        telemetry.INDEX_EMBEDDINGS.set(len(self.index.snapshot.matrix))

    def _exists(self, username: str) -> bool:
        snap = self.index.current()
        if snap is None:
            return self.repo.get_user(username) is not None
        return snap.user(username) is not None  # absent here: create_user still refuses a duplicate

    def _enrolled(self, username: str) -> Enrolled | None:
        """A user's id and this model's faces: from the index when it is current, else from the database.

        A current index (its version equals the change counter: one read of a one-document
        collection) holds what the user documents hold, and reading it costs nothing; reading the
        document costs a table scan on FerretDB/SQLite (see index.py). A user enrolled with
        another model is not in the index and has no faces to compare with.
        """
        snap = self.index.current()
        if snap is not None:
            return snap.user(username)
        user = self.repo.get_user(username, with_embeddings=True)
        if user is None:
            return None
        faces = (
            user.embeddings
            if user.model == self.model_name and user.embeddings is not None
            else np.zeros((0, 128), np.float32)
        )
        return Enrolled(username=user.username, uid=user.id, embeddings=faces)

    # -- login ------------------------------------------------------------------------------
    def _check_lock(self, username: str, mode: str) -> None:
        """locked_out (audited) while the username is locked."""
        until = self.repo.locked_until(username)
        if until is not None:
            retry = max(1, math.ceil((until - self._now()).total_seconds()))
            self._audit(username, mode, "locked_out", None)
            raise FacefleetError(
                ErrorCode.LOCKED_OUT, f"Too many failed logins; try again in {retry} seconds.", retry_after_s=retry
            )

    def _audit(self, username: str | None, mode: str, result: str, distance: float | None) -> None:
        telemetry.LOGINS.labels(mode=mode, result=result).inc()
        self.repo.record_attempt(username=username, mode=mode, result=result, distance=distance)
        log.info(
            "login attempt",
            extra={
                "fields": {
                    "username": username,
                    "mode": mode,
                    "result": result,
                    "distance": None if distance is None else round(distance, 4),
                }
            },
        )

    @staticmethod
    def _best_distance(user: Enrolled | None, probe: np.ndarray) -> float | None:
        if user is None or not len(user.embeddings):
            return None
        return float(np.min(metric.distances(user.embeddings, probe)))

    def verify(self, image: bytes, username: str) -> LoginResult:
        """1:1: the probe against one user's faces (the smallest distance decides).

        A locked username answers locked_out before and after the (queued) embedding; a failure
        counts towards that username's lockout, whether or not the user exists.
        """
        check_username(username)
        self.login_gate()
        self._check_lock(username, VERIFY)
        probe = self.embed(image)
        self._check_lock(username, VERIFY)  # again: guesses queued for the model while the lock engaged
        user = self._enrolled(username)
        distance = self._best_distance(user, probe)
        if user is None or distance is None or not metric.is_match(distance, self.threshold):
            self.repo.register_failure(
                username,
                max_failures=self.settings.lockout_failures,
                window_s=self.settings.lockout_window_s,
                lock_s=self.settings.lockout_s,
            )
            raise self._no_match(username, VERIFY, distance)
        return self._succeed(user, VERIFY, distance)

    def identify(self, image: bytes, *, client: str | None = None) -> LoginResult:
        """1:N: the nearest enrolled face in the index, confirmed from a current index or the database.

        `client` (the caller's address) keys the per-client limit on failed identifies; an
        identified user who is locked out answers locked_out.
        """
        self.login_gate()
        retry = self.identify_limiter.retry_after(client)
        if retry is not None:
            self._audit(None, IDENTIFY, "locked_out", None)
            raise FacefleetError(
                ErrorCode.LOCKED_OUT,
                f"Too many failed identify attempts from this client; try again in {retry} seconds.",
                retry_after_s=retry,
            )
        probe = self.embed(image)
        if not self.index.loaded:
            raise FacefleetError(ErrorCode.UNAVAILABLE, "The face index is still loading; try again shortly.")
        hit = self.index.search(probe)
        user, distance = None, None if hit is None else hit.distance
        if hit is not None and metric.is_match(hit.distance, self.threshold):
            # Again from a current index or the database: another replica may have deleted
            # the user or changed its faces since this snapshot was taken.
            user = self._enrolled(hit.username)
            distance = self._best_distance(user, probe)
            if user is not None:
                self._check_lock(user.username, IDENTIFY)
        if user is None or distance is None or not metric.is_match(distance, self.threshold):
            self.identify_limiter.record_failure(client)
            raise self._no_match(None, IDENTIFY, distance)
        return self._succeed(user, IDENTIFY, distance)

    def _succeed(self, user: Enrolled, mode: str, distance: float) -> LoginResult:
        self.repo.clear_failures(user.username)
        token, expires_at = self.tokens.issue(user.username, user.uid)
        self._audit(user.username, mode, "success", distance)
        return LoginResult(
            username=user.username, distance=distance, threshold=self.threshold, token=token, expires_at=expires_at
        )

    def _no_match(self, username: str | None, mode: str, distance: float | None) -> FacefleetError:
        self._audit(username, mode, "no_match", distance)
        return FacefleetError(ErrorCode.NO_MATCH, "The face does not match an enrolled user.")

    def compare(self, image_a: bytes, image_b: bytes) -> Comparison:
        a, b = self.embed(image_a), self.embed(image_b)
        d = metric.distance(a, b)
        return Comparison(distance=d, threshold=self.threshold, match=metric.is_match(d, self.threshold))

    # -- the token holder -------------------------------------------------------------------
    def me(self, token: str | None) -> Claims:
        """The claims of a valid token whose user still exists (the same user, not a re-enrolled namesake)."""
        claims = self.tokens.verify(token)
        if self.repo.token_revoked(claims.token_id):
            raise FacefleetError(ErrorCode.UNAUTHORIZED, "The token was revoked by a logout; log in again.")
        snap = self.index.current()
        known = snap.user(claims.username) if snap is not None else None
        if known is not None:
            uid: str | None = known.uid
        else:  # not in a current index: a user of another model, or gone
            user = self.repo.get_user(claims.username)
            uid = None if user is None else user.id
        if uid != claims.uid:
            raise FacefleetError(ErrorCode.UNAUTHORIZED, "The token's user no longer exists.")
        return claims

    def logout(self, token: str | None) -> None:
        """Revoke this token on every replica of the site until it would have expired."""
        claims = self.me(token)
        self.repo.revoke_token(claims.token_id, claims.expires_at)

    def my_attempts(self, token: str | None, limit: int = ATTEMPTS_LIMIT) -> list[Attempt]:
        claims = self.me(token)
        return self.repo.attempts(claims.username, limit=limit)

    def delete_me(self, token: str | None) -> int:
        claims = self.me(token)
        return self.delete_user(claims.username)
