"""In-memory matrix of every enrolled embedding, so 1:N identify never scans documents.

The index follows the database: a full load at start, this replica's own changes applied at
once, and a background check of the change counter (`meta.users.version`, one small read every
FACEFLEET_INDEX_REFRESH_S) that reloads when another replica changed something, plus a full
reload every FACEFLEET_INDEX_FULL_RELOAD_S whatever the counter says. Readers take an immutable
snapshot, so a search never waits for a reload.

The snapshot also answers "which faces and which user id does this username have?" when it is
*current* (its version equals the database's counter). Login uses that instead of reading the
user's document: FerretDB 1.24/SQLite finds a document by `_id` only by scanning the table (its
`_id` index is built on another SQL expression than its queries use), so that read grew linearly
with the number of users. A current snapshot holds exactly what the documents hold, because
every user change bumps the counter; a change whose bump failed is bumped again by the refresh
thread until the database takes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import InitVar, dataclass, field, replace

import numpy as np

from recognizer import defaults
from recognizer.faces import metric
from recognizer.storage import Repository

log = logging.getLogger(__name__)
DIM = 128


def _sq_norms(matrix: np.ndarray) -> np.ndarray:
    return np.asarray(np.einsum("ij,ij->i", matrix, matrix), dtype=np.float32)


@dataclass(frozen=True)
class Enrolled:
    """One user as the index knows them: enough to decide a login and issue a token."""

    username: str
    uid: str
    embeddings: np.ndarray  # (k, 128), this model's faces


@dataclass(frozen=True)
class Snapshot:
    """Rows grouped by user: user k owns rows starts[k]:starts[k+1] of the matrix."""

    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, DIM), np.float32))  # (N, 128)
    users: np.ndarray = field(default_factory=lambda: np.zeros((0,), object))  # (U,) usernames
    uids: np.ndarray = field(default_factory=lambda: np.zeros((0,), object))  # (U,) user ids (token claim)
    starts: np.ndarray = field(default_factory=lambda: np.zeros((1,), np.int64))  # (U+1,)
    version: int = -1
    #: |row|^2 of the matrix when the caller already has them (plus/without), else computed.
    known_sq_norms: InitVar[np.ndarray | None] = None
    sq_norms: np.ndarray = field(init=False, repr=False)  # (N,) |row|^2, for the BLAS nearest-row search
    owner_of_row: np.ndarray = field(init=False, repr=False)  # (N,) user number of each row
    where: dict[str, int] = field(init=False, repr=False)  # username -> user number

    def __post_init__(self, known_sq_norms: np.ndarray | None) -> None:
        sq_norms = _sq_norms(self.matrix) if known_sq_norms is None else known_sq_norms
        object.__setattr__(self, "sq_norms", sq_norms)
        counts = np.diff(self.starts)
        object.__setattr__(self, "owner_of_row", np.repeat(np.arange(len(self.users), dtype=np.int32), counts))
        object.__setattr__(self, "where", {u: k for k, u in enumerate(self.users.tolist())})

    @classmethod
    def build(cls, groups: Iterable[tuple[str, str, np.ndarray]], version: int) -> Snapshot:
        """From (username, uid, embeddings) per user."""
        users, uids, mats, counts = [], [], [], []
        for username, uid, emb in groups:
            if len(emb):
                users.append(username)
                uids.append(uid)
                mats.append(np.asarray(emb, np.float32).reshape(-1, DIM))
                counts.append(len(mats[-1]))
        matrix = np.vstack(mats) if mats else np.zeros((0, DIM), np.float32)
        starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
        return cls(
            matrix=matrix,
            users=np.array(users, dtype=object),
            uids=np.array(uids, dtype=object),
            starts=starts,
            version=version,
        )

    def user(self, username: str) -> Enrolled | None:
        k = self.where.get(username)
        if k is None:
            return None
        return Enrolled(
            username=username, uid=str(self.uids[k]), embeddings=self.matrix[self.starts[k] : self.starts[k + 1]]
        )

    def without(self, username: str) -> Snapshot:
        """This snapshot minus one user (same version); itself when the user is absent."""
        k = self.where.get(username)
        if k is None:
            return self
        a, b = int(self.starts[k]), int(self.starts[k + 1])
        starts = np.concatenate([self.starts[:k], self.starts[k + 1 :] - (b - a)])
        return Snapshot(
            matrix=np.concatenate([self.matrix[:a], self.matrix[b:]]),
            users=np.delete(self.users, k),
            uids=np.delete(self.uids, k),
            starts=starts,
            version=self.version,
            known_sq_norms=np.concatenate([self.sq_norms[:a], self.sq_norms[b:]]),
        )

    def plus(self, username: str, uid: str, embeddings: np.ndarray) -> Snapshot:
        """This snapshot with one more user at the end (same version)."""
        emb = np.asarray(embeddings, np.float32).reshape(-1, DIM)
        if not len(emb):
            return self
        return Snapshot(
            matrix=np.vstack([self.matrix, emb]),
            users=np.append(self.users, np.array([username], dtype=object)),
            uids=np.append(self.uids, np.array([uid], dtype=object)),
            starts=np.append(self.starts, self.starts[-1] + len(emb)),
            version=self.version,
            known_sq_norms=np.concatenate([self.sq_norms, _sq_norms(emb)]),
        )


@dataclass(frozen=True)
class Hit:
    username: str
    distance: float


class EmbeddingIndex:
    """Every embedding of this model in one float32 matrix, following the database's change counter."""

    def __init__(
        self,
        repo: Repository,
        *,
        model_name: str = metric.MODEL_NAME,
        refresh_s: float = defaults.INDEX_REFRESH_S,
        full_reload_s: float = defaults.INDEX_FULL_RELOAD_S,
    ) -> None:
        self._repo = repo
        self._model = model_name
        self._refresh_s = refresh_s
        self._full_reload_s = full_reload_s
        self._loaded_at = 0.0
        self._snap = Snapshot()
        self._lock = threading.Lock()
        self._local_changes = 0  # bumped by apply(); a reload that raced with one is discarded
        self._bump_pending = threading.Event()  # a stored change whose counter bump failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loaded = False
        self.skipped_other_model = 0

    @property
    def snapshot(self) -> Snapshot:
        return self._snap

    def current(self) -> Snapshot | None:
        """The snapshot when it matches the database's change counter (one small read), else None.

        Raises the storage layer's error (503) when the database cannot be read.
        """
        snap = self._snap
        if not self.loaded or self._bump_pending.is_set() or self._repo.version() != snap.version:
            return None
        return snap

    # -- loading ----------------------------------------------------------------------------
    def reload(self) -> bool:
        """Full load from the database; False when a local change raced with it (retry later)."""
        with self._lock:
            changes_before = self._local_changes
        version = self._repo.version()
        groups, skipped = [], 0
        for username, uid, model, emb in self._repo.all_embeddings():
            if model != self._model:
                skipped += 1  # another model's space: never compared with this model's probes
                continue
            groups.append((username, uid, emb))
        snap = Snapshot.build(groups, version)
        with self._lock:
            if self._local_changes != changes_before:
                return False
            self._snap = snap
            self.skipped_other_model = skipped
            self.loaded = True
            self._loaded_at = time.monotonic()
        log.info(
            "index loaded",
            extra={"fields": {"embeddings": len(snap.matrix), "version": version, "skipped_other_model": skipped}},
        )
        return True

    def refresh_if_changed(self) -> None:
        if self._bump_pending.is_set():
            self._repo.bump_version()  # raises while the database is still away; retried next tick
            self._bump_pending.clear()
        stale = time.monotonic() - self._loaded_at > self._full_reload_s
        if not self.loaded or stale or self._repo.version() != self._snap.version:
            self.reload()

    def apply(
        self, username: str, embeddings: np.ndarray | None, model: str, new_version: int | None, uid: str = ""
    ) -> None:
        """Apply this replica's own change (embeddings None = user deleted) without a full reload.

        `new_version` is the counter after this change's bump; None when the bump failed, which
        leaves the snapshot at the old version and has the refresh thread bump it later.
        """
        with self._lock:
            self._local_changes += 1
            snap = self._snap.without(username)
            if embeddings is not None and model == self._model and len(embeddings):
                snap = snap.plus(username, uid, embeddings)
            # If another replica changed something in between, the version jumped by more than one:
            # keep the old version so the next background check reloads everything.
            old = self._snap.version
            version = new_version if new_version is not None and new_version == old + 1 else old
            if new_version is None:
                self._bump_pending.set()
            self._snap = replace(snap, version=version, known_sq_norms=snap.sq_norms)

    # -- background refresh -----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="index-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh_if_changed()
            except Exception as exc:  # the DB may be down: keep serving the last snapshot
                log.warning("index refresh failed", extra={"fields": {"error": str(exc)}})
            self._stop.wait(self._refresh_s if self.loaded else min(self._refresh_s, 1.0))

    # -- search -----------------------------------------------------------------------------
    def search(self, probe: np.ndarray) -> Hit | None:
        """The nearest enrolled embedding's owner and distance, or None when the index is empty.

        The nearest row is found with one matrix-vector product (|m|^2 - 2 m.v ranks rows exactly
        like the Euclidean distance, without materialising an (N, 128) difference: bench/README.md,
        1:N index); its distance is then computed by metric.distance, the one decision rule.
        """
        snap = self._snap
        if not len(snap.matrix):
            return None
        v = np.asarray(probe, dtype=np.float32).reshape(DIM)
        i = int(np.argmin(snap.sq_norms - 2.0 * (snap.matrix @ v)))
        owner = snap.users[snap.owner_of_row[i]]
        return Hit(username=str(owner), distance=metric.distance(snap.matrix[i], v))
