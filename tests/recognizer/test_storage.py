"""Storage: embeddings encrypted at rest (bound to user and model), audit retention, idempotent set-up."""

from __future__ import annotations

import numpy as np
import pytest

from recognizer.storage.crypto import DecryptionError, EmbeddingCipher

KEY = "embedding-key-0123456789"


def test_round_trip_and_no_plaintext():
    m = np.random.default_rng(0).normal(size=(3, 128)).astype(np.float32)
    c = EmbeddingCipher(KEY)
    blob = c.encrypt(m, username="alice", model="Dlib")
    assert m.tobytes() not in blob and m[0].tobytes()[:16] not in blob
    assert np.array_equal(c.decrypt(blob, username="alice", model="Dlib"), m)
    assert c.encrypt(m, username="alice", model="Dlib") != blob  # fresh nonce each time


@pytest.mark.parametrize("change", ["key", "user", "model", "bit"])
def test_tampering_is_detected(change):
    m = np.ones((1, 128), np.float32)
    blob = EmbeddingCipher(KEY).encrypt(m, username="alice", model="Dlib")
    cipher, user, model = EmbeddingCipher(KEY), "alice", "Dlib"
    if change == "key":
        cipher = EmbeddingCipher("another-key-0123456789")
    elif change == "user":
        user = "mallory"
    elif change == "model":
        model = "Facenet"
    else:
        blob = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, username=user, model=model)


def test_stored_documents_hold_no_plain_embedding(database_server, recognizer_server):
    from facefleet_testing.recognizer_api import enrol, new_username

    name = new_username("atrest")
    with recognizer_server.client() as c:
        enrol(c, recognizer_server, name, "hopper")
    with database_server.client() as client:
        doc = client[recognizer_server.db_name]["users"].find_one({"username": name})
    assert set(doc) >= {"username", "model", "consent", "faces", "embeddings", "created_at", "updated_at"}
    assert doc["consent"] is True and doc["model"] == "Dlib" and doc["faces"] == 1
    blob = bytes(doc["embeddings"])
    assert len(blob) == 1 + 12 + 128 * 4 + 16  # version, nonce, ciphertext, tag: nothing else
    with pytest.raises(DecryptionError):
        EmbeddingCipher(KEY).decrypt(blob, username=name, model="Dlib")
    with recognizer_server.client() as c:
        c.delete(f"/v1/users/{name}", headers=recognizer_server.headers)


def test_retention_purge_and_restart_with_another_retention(database_server, tmp_path):
    """Old audit entries are purged (TTL index or the periodic purge); set-up is idempotent."""
    from datetime import UTC, datetime, timedelta

    from recognizer.storage import Repository

    name = "t_retention"
    repo = Repository(database_server.url, name, EmbeddingCipher(KEY), audit_retention_s=3600)
    try:
        repo.ensure_indexes()
        repo.ensure_indexes()  # a restart
        Repository(database_server.url, name, EmbeddingCipher(KEY), audit_retention_s=7200).ensure_indexes()
        old = datetime.now(UTC) - timedelta(hours=2)
        repo.audit.insert_one({"at": old, "username": "alice", "mode": "verify", "result": "no_match", "distance": 1.0})
        repo.record_attempt(username="alice", mode="verify", result="success", distance=0.1)
        assert [a.result for a in repo.attempts("alice")] == ["success"]  # expired entries never shown
        assert repo.purge_expired() == 1
        assert repo.audit.count_documents({}) == 1
    finally:
        repo._client.drop_database(name)
        repo.close()


def test_database_killed_during_an_index_reload_is_unavailable(tmp_path):
    """The index's full load iterates a cursor (a generator): a database that dies between two
    batches must surface as 503 `unavailable`, like every other storage call, not as a driver error."""
    from facefleet_testing.stack import DatabaseServer
    from recognizer.errors import ErrorCode, FacefleetError
    from recognizer.index import EmbeddingIndex
    from recognizer.storage import Repository

    server = DatabaseServer.start_new(tmp_path / "db")
    repo = Repository(server.url, "t_reload_outage", EmbeddingCipher(KEY), timeout_ms=1000)
    try:
        repo.ensure_indexes()
        rng = np.random.default_rng(1)
        for i in range(150):  # more than the first batch a cursor returns (101 documents)
            repo.create_user(f"user{i:03d}", rng.normal(size=(1, 128)).astype(np.float32), model="Dlib", consent=True)
        index = EmbeddingIndex(repo)
        assert index.reload() and len(index.current().matrix) == 150

        rows = repo.all_embeddings()
        next(rows)  # the first batch is in memory; the rest needs the server
        server.stop()
        with pytest.raises(FacefleetError) as err:
            list(rows)
        assert err.value.code is ErrorCode.UNAVAILABLE
        with pytest.raises(FacefleetError) as err:
            index.reload()
        assert err.value.code is ErrorCode.UNAVAILABLE
    finally:
        repo.close()
        server.stop()
