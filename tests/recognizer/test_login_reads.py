"""Login decides from a current in-memory index, not from the user's document, and stays correct.

FerretDB 1.24/SQLite finds a document by `_id` only by scanning its table, so a per-login read of
the user grew linearly with the number of users (bench/identify.py). These tests run the service
layer on the real database with a spy on the repository: a login against a current index reads
only the change counter, and as soon as anyone else changes a user the counter sends it back to
the database, so a user deleted elsewhere is never let in.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from recognizer.config import Settings
from recognizer.errors import ErrorCode, FacefleetError
from recognizer.faces.protocol import Face
from recognizer.index import EmbeddingIndex
from recognizer.service import Recognizer
from recognizer.storage import EmbeddingCipher, Repository
from recognizer.tokens import TokenIssuer

KEY = "embedding-key-0123456789"
SECRET = "token-secret-0123456789"


class Spy:
    """Counts the repository's calls by name and passes them on."""

    def __init__(self, inner: Repository) -> None:
        self.inner, self.calls = inner, Counter()

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return call


class VectorEmbedder:
    """Stands in for the face model (an Embedder): the image bytes *are* the embedding (the decision is under test)."""

    detector_name, model_name = "none", "Dlib"

    def embed(self, data: bytes) -> Face:
        return Face(embedding=np.frombuffer(data, np.float32), box=(0, 0, 0, 0), model_name=self.model_name)

    def embed_many(self, images: list[bytes]) -> list[Face]:
        return [self.embed(data) for data in images]

    def close(self) -> None:
        pass


def face(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture()
def parts(database_server, request):
    db_name = f"t_reads_{request.node.name}"[:60]
    repo = Repository(database_server.url, db_name, EmbeddingCipher(KEY), timeout_ms=2500)
    repo.ensure_indexes()
    spy = Spy(repo)
    index = EmbeddingIndex(spy, refresh_s=3600)  # no background thread: the test drives it
    settings = Settings(threshold=0.5)
    service = Recognizer(settings, spy, index, TokenIssuer(SECRET, 600), VectorEmbedder())
    index.reload()
    try:
        yield service, spy, repo
    finally:
        repo.users.database.client.drop_database(db_name)
        repo.close()


def test_login_against_a_current_index_reads_only_the_counter(parts):
    service, spy, _ = parts
    alice, bob = face(1), face(2)
    service.enrol("alice", [alice.tobytes()])
    service.enrol("bob", [bob.tobytes(), face(3).tobytes()])
    spy.calls.clear()
    assert service.verify(alice.tobytes(), "alice").username == "alice"  # 1:1
    assert service.identify(face(3).tobytes()).username == "bob"  # 1:N, the closest of bob's faces
    with pytest.raises(FacefleetError) as e:
        service.verify(alice.tobytes(), "bob")
    assert e.value.code is ErrorCode.NO_MATCH
    assert spy.calls["get_user"] == 0 and spy.calls["version"] >= 3, spy.calls
    claims = service.me(service.identify(bob.tobytes()).token)
    assert claims.username == "bob" and spy.calls["get_user"] == 0


def test_a_change_by_another_replica_sends_login_back_to_the_database(parts, database_server):
    service, spy, repo = parts
    alice = face(1)
    service.enrol("alice", [alice.tobytes()])
    token = service.verify(alice.tobytes(), "alice").token
    # Another replica deletes alice and bumps the counter; this replica's index has not refreshed.
    other = Repository(database_server.url, repo.users.database.name, EmbeddingCipher(KEY))
    assert other.delete_user("alice")
    other.bump_version()
    other.close()
    spy.calls.clear()
    for attempt in (lambda: service.verify(alice.tobytes(), "alice"), lambda: service.identify(alice.tobytes())):
        with pytest.raises(FacefleetError) as e:
            attempt()
        assert e.value.code is ErrorCode.NO_MATCH
    with pytest.raises(FacefleetError) as e:
        service.me(token)
    assert e.value.code is ErrorCode.UNAUTHORIZED
    assert spy.calls["get_user"] >= 2, "a stale index must not decide"
    service.index.refresh_if_changed()
    assert service.index.current() is not None and service.index.current().user("alice") is None


def test_a_re_enrolled_namesake_does_not_inherit_old_tokens(parts):
    service, _, _ = parts
    service.enrol("carol", [face(5).tobytes()])
    token = service.verify(face(5).tobytes(), "carol").token
    service.delete_user("carol")
    service.enrol("carol", [face(6).tobytes()])
    with pytest.raises(FacefleetError) as e:
        service.me(token)
    assert e.value.code is ErrorCode.UNAUTHORIZED
    assert service.me(service.verify(face(6).tobytes(), "carol").token).username == "carol"


def test_a_failed_counter_bump_is_applied_here_and_bumped_later(parts):
    service, spy, repo = parts
    real_bump = repo.bump_version
    service.enrol("dave", [face(7).tobytes()])
    version = repo.version()

    def down():
        raise FacefleetError(ErrorCode.UNAVAILABLE, "database away")

    repo.bump_version = down  # the user document is written, then the database goes away
    with pytest.raises(FacefleetError):
        service.delete_user("dave")
    assert repo.get_user("dave") is None and repo.version() == version  # stored, not yet counted
    assert service.index.current() is None  # so login asks the database meanwhile
    with pytest.raises(FacefleetError) as e:
        service.identify(face(7).tobytes())
    assert e.value.code is ErrorCode.NO_MATCH
    repo.bump_version = real_bump  # the database is back: the refresh thread's next tick
    service.index.refresh_if_changed()
    assert repo.version() > version and service.index.current() is not None
