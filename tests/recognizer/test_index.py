"""The in-memory 1:N index: nearest owner equals a brute-force search; own changes apply at once."""

from __future__ import annotations

import numpy as np

from recognizer.faces import metric
from recognizer.index import EmbeddingIndex


class FakeRepo:
    """Only what EmbeddingIndex reads: the change counter and every user's embeddings."""

    def __init__(self, users: dict[str, np.ndarray], version: int = 1) -> None:
        self.users, self._version = users, version

    def version(self) -> int:
        return self._version

    def all_embeddings(self):
        for name, emb in self.users.items():
            yield name, f"id-{name}", metric.MODEL_NAME, emb


def _users(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"user{i}": (rng.normal(size=(1 + i % 3, 128)) * 0.1).astype(np.float32) for i in range(n)}


def test_search_equals_brute_force():
    users = _users(500)
    idx = EmbeddingIndex(FakeRepo(users))
    assert idx.reload()
    rng = np.random.default_rng(1)
    for _ in range(50):
        probe = (rng.normal(size=128) * 0.1).astype(np.float32)
        best = min((metric.distance(row, probe), name) for name, emb in users.items() for row in emb)
        hit = idx.search(probe)
        assert hit.username == best[1] and abs(hit.distance - best[0]) < 1e-9


def test_apply_and_reload_follow_changes():
    users = _users(10)
    repo = FakeRepo(users)
    idx = EmbeddingIndex(repo)
    idx.reload()
    probe = users["user3"][0]
    assert idx.search(probe).username == "user3"
    idx.apply("user3", None, metric.MODEL_NAME, new_version=2)  # deleted here
    assert idx.search(probe).username != "user3" and idx.snapshot.version == 2
    idx.apply("newbie", probe[None, :], metric.MODEL_NAME, new_version=4)  # another replica wrote version 3
    assert idx.search(probe).username == "newbie" and idx.snapshot.version == 2  # stays stale: reload next
    repo._version = 4
    del users["user3"]
    users["newbie"] = probe[None, :]
    idx.refresh_if_changed()
    assert idx.snapshot.version == 4 and idx.search(probe).username == "newbie"
    assert len(idx.snapshot.matrix) == sum(len(e) for e in users.values())


def test_other_models_are_skipped_and_empty_index_finds_nobody():
    class OtherModel(FakeRepo):
        def all_embeddings(self):
            for name, emb in self.users.items():
                yield name, f"id-{name}", "Facenet", emb

    idx = EmbeddingIndex(OtherModel(_users(3)))
    idx.reload()
    assert idx.search(np.zeros(128, np.float32)) is None and idx.skipped_other_model == 3


def test_incremental_changes_equal_a_fresh_build():
    """Random enrolments, re-enrolments and deletions applied one by one give the same per-user
    faces, ids and search answers as building the snapshot from scratch."""
    rng = np.random.default_rng(3)
    users = _users(40)
    repo = FakeRepo(dict(users))
    idx = EmbeddingIndex(repo)
    idx.reload()
    for _ in range(200):
        name = f"user{rng.integers(0, 60)}"
        if rng.random() < 0.3:
            users.pop(name, None)
            idx.apply(name, None, metric.MODEL_NAME, new_version=idx.snapshot.version + 1)
        else:
            users[name] = (rng.normal(size=(int(rng.integers(1, 4)), 128)) * 0.1).astype(np.float32)
            idx.apply(name, users[name], metric.MODEL_NAME, new_version=idx.snapshot.version + 1, uid=f"id-{name}")
    repo.users, repo._version = users, idx.snapshot.version
    assert idx.current() is idx.snapshot  # every change was this replica's: still current
    fresh = EmbeddingIndex(repo)
    fresh.reload()
    for name, emb in users.items():
        got = idx.snapshot.user(name)
        assert got.uid == f"id-{name}" and np.array_equal(got.embeddings, emb)
    assert idx.snapshot.user("nobody") is None
    assert sorted(idx.snapshot.users.tolist()) == sorted(fresh.snapshot.users.tolist())
    for _ in range(30):
        probe = (rng.normal(size=128) * 0.1).astype(np.float32)
        assert idx.search(probe) == fresh.search(probe)


def test_current_only_while_the_counter_agrees_and_full_reload_on_schedule():
    users = _users(5)
    repo = FakeRepo(users, version=7)
    idx = EmbeddingIndex(repo, full_reload_s=0.0)
    assert idx.current() is None  # not loaded yet
    idx.reload()
    assert idx.current() is idx.snapshot
    repo._version = 8  # another replica changed something
    assert idx.current() is None
    users["late"] = users.pop("user0")  # a change whose counter bump was lost: same version
    repo._version = 7
    idx.reload()
    repo.users["ghost"] = users["user1"]
    idx.refresh_if_changed()  # counter unchanged, but the full-reload period has passed
    assert idx.snapshot.user("ghost") is not None
