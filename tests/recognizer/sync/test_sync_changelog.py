"""The home's change log and a replica's store, on a real database server (storage layer only).

These pin the properties the protocol rests on (recognizer/README.md, "Fleet-wide users"): every
write is numbered and served in order, a gap holds the feed back until its writer finishes or is
given up on, an interrupted write is announced by repair(), and applying pages twice, replayed
or out of order gives the same replica as applying them once in order.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from facefleet_testing.stack import DatabaseServer
from recognizer.storage import EmbeddingCipher, Repository
from recognizer.storage import changelog as changelog_module
from recognizer.storage.changelog import CursorExpired
from recognizer.storage.replica import Incoming
from recognizer.sync.wire import UserState

MODEL = "Dlib"


def _emb(k: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(k, 128)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.fixture()
def cipher() -> EmbeddingCipher:
    return EmbeddingCipher("test-embedding-" + secrets.token_hex(8))


def _repo(db: DatabaseServer, cipher: EmbeddingCipher, name: str | None = None) -> Repository:
    repo = Repository(db.url, name or "t_" + secrets.token_hex(4), cipher)
    repo.ensure_indexes()
    return repo


@pytest.fixture()
def home(database_server: DatabaseServer, cipher: EmbeddingCipher) -> Iterator[Repository]:
    repo = _repo(database_server, cipher)
    yield repo
    repo.close()


@pytest.fixture()
def replica(database_server: DatabaseServer, cipher: EmbeddingCipher) -> Iterator[Repository]:
    repo = _repo(database_server, cipher)
    yield repo
    repo.close()


def _feed_items(home: Repository, after: int = 0) -> list[Incoming]:
    """What the home's GET /v1/sync/changes carries, as the replica turns it into Incoming items."""
    page = home.changelog.read(after, 10_000)
    states = home.changelog.states(c.username for c in page.changes)
    out = []
    for c in page.changes:
        doc = states.get(c.username)
        if doc is None:
            out.append(Incoming(username=c.username, seq=c.seq, doc=None))
        else:
            state = UserState.from_doc(doc)
            out.append(Incoming(username=state.username, seq=state.seq, doc=state.to_doc()))
    return out


def _users(repo: Repository) -> dict[str, tuple[str, int, bytes]]:
    return {d["_id"]: (d["uid"], d["seq"], bytes(d["embeddings"])) for d in repo.users.find({})}


def test_every_write_is_numbered_in_order_and_stamped(home: Repository) -> None:
    a = home.create_user("alice", _emb(), model=MODEL, consent=True)
    b = home.create_user("bob", _emb(seed=1), model=MODEL, consent=True)
    a2 = home.add_faces("alice", _emb(seed=2), model=MODEL)
    gone = home.delete_user("bob")
    assert (a.seq, b.seq, a2.seq, gone) == (1, 2, 3, 4)
    page = home.changelog.read(0, 100)
    assert [(c.seq, c.username) for c in page.changes] == [(1, "alice"), (2, "bob"), (3, "alice"), (4, "bob")]
    assert page.next == page.head == 4
    assert home.users.find_one({"_id": "alice"})["seq"] == 3  # the document carries its last change
    assert home.changelog.read(2, 1).changes[0].seq == 3  # pages resume after the cursor
    assert home.delete_user("nobody") is None and home.changelog.head() == 4  # nothing changed, nothing numbered
    assert home.changelog.intents.count_documents({}) == 0  # every intent closed


def test_a_gap_holds_the_feed_back_until_it_is_filled_or_given_up(home: Repository, monkeypatch) -> None:
    home.create_user("alice", _emb(), model=MODEL, consent=True)  # 1
    stalled = home.changelog.allocate_many(1)[0]  # 2: a writer between allocation and its record
    home.create_user("bob", _emb(seed=1), model=MODEL, consent=True)  # 3
    page = home.changelog.read(0, 100)
    assert [c.seq for c in page.changes] == [1] and page.next == 1, "nothing after a fresh gap is served"
    # The writer finishes: its record fills the gap and the feed goes on.
    home.changelog.changes.insert_one({"_id": stalled, "username": "alice", "at": datetime.now(UTC)})
    assert [c.seq for c in home.changelog.read(0, 100).changes] == [1, 2, 3]

    # A writer that died after allocating: after the grace the number is voided and skipped ...
    dead = home.changelog.allocate_many(1)[0]  # 4
    home.create_user("carol", _emb(seed=3), model=MODEL, consent=True)  # 5
    assert home.changelog.read(3, 100).next == 3
    monkeypatch.setattr(changelog_module, "GAP_GRACE_S", 0.0)
    page = home.changelog.read(3, 100)
    assert [c.seq for c in page.changes] == [5] and page.next == 5
    # ... and a writer that was merely slow finds its number voided and announces again, higher.
    with pytest.raises(Exception, match="duplicate key"):
        home.changelog.changes.insert_one({"_id": dead, "username": "carol", "at": datetime.now(UTC)})
    assert home.changelog.announce("carol") == 6


def test_an_interrupted_write_is_announced_by_repair(home: Repository, monkeypatch) -> None:
    home.create_user("alice", _emb(), model=MODEL, consent=True)
    # A writer that stored its change and died before announcing it: an intent is all that is left.
    home.changelog.intend("alice")
    home.users.update_one({"_id": "alice"}, {"$set": {"faces": 2}})
    assert home.repair_changes() == 0, "an intent within its grace belongs to a live writer"
    monkeypatch.setattr(changelog_module, "INTENT_GRACE_S", -1.0)
    assert home.repair_changes() == 1
    page = home.changelog.read(1, 100)
    assert [(c.seq, c.username) for c in page.changes] == [(2, "alice")]
    assert home.users.find_one({"_id": "alice"})["seq"] == 2


def test_users_older_than_the_log_are_announced(home: Repository) -> None:
    """A home upgraded from a version without the log: its users get numbers on the first repair."""
    home.create_user("alice", _emb(), model=MODEL, consent=True)
    home.users.update_one({"_id": "alice"}, {"$unset": {"seq": ""}})
    assert home.announce_unstamped() == 1
    assert home.users.find_one({"_id": "alice"})["seq"] == 2
    assert home.announce_unstamped() == 0


def test_trimmed_changes_expire_older_cursors(home: Repository) -> None:
    home.create_user("alice", _emb(), model=MODEL, consent=True)
    home.create_user("bob", _emb(seed=1), model=MODEL, consent=True)
    home.changelog.changes.update_many({}, {"$set": {"at": datetime.now(UTC) - timedelta(days=31)}})
    home.create_user("carol", _emb(seed=2), model=MODEL, consent=True)
    assert home.changelog.trim(30 * 24 * 3600) == 2
    with pytest.raises(CursorExpired):
        home.changelog.read(1, 100)
    assert [c.seq for c in home.changelog.read(2, 100).changes] == [3]


def test_import_numbers_a_block_and_skips_existing_names(home: Repository) -> None:
    home.create_user("u-1", _emb(), model=MODEL, consent=True)
    n = home.import_users([(f"u-{i}", _emb(seed=i)) for i in range(5)], model=MODEL, consent=True)
    assert n == 4
    page = home.changelog.read(0, 100)
    assert sorted(c.username for c in page.changes) == ["u-0", "u-1", "u-2", "u-3", "u-4"]
    assert page.next == 6, "the skipped name's number is voided, not left as a gap"
    assert home.get_user("u-1").seq == 1 and home.changelog.intents.count_documents({}) == 0


def test_duplicated_replayed_and_reordered_pages_give_the_same_replica(home: Repository, replica: Repository) -> None:
    for i in range(6):
        home.create_user(f"user-{i}", _emb(seed=i), model=MODEL, consent=True)
    home.add_faces("user-1", _emb(seed=10), model=MODEL)
    home.delete_user("user-2")
    home.delete_user("user-3")
    home.create_user("user-3", _emb(seed=11), model=MODEL, consent=True)  # a new user under an old name
    items = _feed_items(home)
    # States fetched as they were *then*: the replayed delivery of an old page, held back by a proxy.
    old_alice = UserState.from_doc(home.users.find_one({"_id": "user-0"}))
    replica.replica.apply(items)
    want = _users(home)
    assert _users(replica) == want

    rng = random.Random(5)
    for _ in range(5):
        shuffled = items * 2
        rng.shuffle(shuffled)
        replica.replica.apply(shuffled)
        replica.replica.apply(shuffled[: len(shuffled) // 2])
        assert _users(replica) == want
    # An old state of a user and a replay of user-2's creation change nothing, nor resurrect user-2.
    created_2 = UserState.from_doc(
        {**home.users.find_one({"_id": "user-1"}), "_id": "user-2", "username": "user-2"}, seq=3
    )
    assert replica.replica.apply([Incoming("user-0", old_alice.seq, old_alice.to_doc())]) == 0
    assert replica.replica.apply([Incoming("user-2", 3, created_2.to_doc())]) == 0
    assert "user-2" not in _users(replica) and _users(replica) == want

    # Applied one page at a time in reverse order of pages, the result is the same again.
    replica.users.delete_many({})
    replica.replica.tombstones.delete_many({})
    for start in reversed(range(0, len(items), 3)):
        replica.replica.apply(items[start : start + 3])
    assert _users(replica) == want


def test_a_full_copy_replaces_the_users_whole_and_floors_older_changes(home: Repository, replica: Repository) -> None:
    for i in range(3):
        home.create_user(f"user-{i}", _emb(seed=i), model=MODEL, consent=True)
    replica.replica.apply(_feed_items(home))
    old_feed = _feed_items(home)  # what a replayed, delayed response would carry later
    home.delete_user("user-1")
    home.changelog.changes.delete_many({})  # trimmed: the deletion exists only as an absence now
    head = home.changelog.head()
    store = replica.replica
    store.begin_copy()
    assert store.load_state().cursor is None  # a crash from here means a new copy
    store.stage([UserState.from_doc(d).to_doc() for d in home.changelog.every_user()])
    assert "user-1" in _users(replica), "the live users stay until the copy is complete"
    store.swap_in_copy(head)
    assert _users(replica) == _users(home)
    assert "username_unique" in replica.users.index_information()
    # The copy is as of `head`: a replay of older states does not bring user-1 back.
    floor = store.load_state().floor
    assert floor == head
    assert store.apply(old_feed, floor=floor) == 0
    assert "user-1" not in _users(replica)
