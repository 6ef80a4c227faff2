"""A replica's copy of the home's users, in its own database (recognizer/README.md, sync).

The replicated users live in the same `users` collection the login path reads, so a replica
decides logins exactly as the home does. What makes applying safe to repeat:
- every user document carries `seq`, the home's number of the change that wrote that state, and
  a deleted user leaves a tombstone (`tombstones`, `{_id: username, seq}`); a state or tombstone
  whose `seq` is not above what is here already changes nothing, so duplicated, replayed and
  reordered pages are harmless and nothing deleted comes back;
- a state replaces the user's document whole, in one single-document write (faces included), so a
  login never sees half a user;
- the cursor, the last successful sync and the sync lease live in `replica_state`, so a restart
  resumes where it stopped and every recognizer pod of the site shows the same status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

Doc = dict[str, Any]
DUPLICATE_KEY = 11000
STATE_ID, LEASE_ID = "sync", "lease"


@dataclass(frozen=True)
class Incoming:
    """One user's state from the home: `doc` is the user document, None for a deletion."""

    username: str
    seq: int
    doc: Doc | None


@dataclass(frozen=True)
class SyncState:
    cursor: int | None  # None: no complete copy yet
    synced_at: datetime | None  # the last successful exchange with the home
    offline_since: datetime | None  # the first failed exchange since the last success
    head: int | None  # the home's last seq, as of the last answer


def _ignore_duplicates(exc: BulkWriteError) -> None:
    """A conditional upsert that meets a newer document fails with a duplicate key: that is 'skip'."""
    others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
    if others:
        raise exc


class ReplicaStore:
    def __init__(self, db: Database[Doc], users: Collection[Doc], now: Callable[[], datetime]) -> None:
        self.users = users
        self.tombstones = db["tombstones"]
        self.state = db["replica_state"]
        self._now = now

    # -- applying -----------------------------------------------------------------------------
    def local_seqs(self, usernames: Iterable[str]) -> dict[str, int]:
        """The highest seq applied per username (its document's or its tombstone's)."""
        names = sorted(set(usernames))
        out: dict[str, int] = {}
        if not names:
            return out
        for coll in (self.users, self.tombstones):
            for d in coll.find({"_id": {"$in": names}}, {"seq": 1}):
                out[str(d["_id"])] = max(out.get(str(d["_id"]), 0), int(d.get("seq", 0)))
        return out

    def apply(self, incoming: Iterable[Incoming]) -> int:
        """Apply what is newer than what is here; returns how many users changed."""
        latest: dict[str, Incoming] = {}
        for item in incoming:  # within a page, only each user's newest state counts
            if item.username not in latest or item.seq > latest[item.username].seq:
                latest[item.username] = item
        have = self.local_seqs(latest)
        todo = [i for i in latest.values() if i.seq > have.get(i.username, 0)]
        user_ops: list[Any] = []
        tomb_ops: list[Any] = []
        for item in todo:
            older = {"_id": item.username, "$or": [{"seq": {"$lt": item.seq}}, {"seq": {"$exists": False}}]}
            if item.doc is None:
                user_ops.append(DeleteOne(older))
                tomb_ops.append(UpdateOne({"_id": item.username}, {"$max": {"seq": item.seq}}, upsert=True))
            else:
                user_ops.append(ReplaceOne(older, {**item.doc, "_id": item.username, "seq": item.seq}, upsert=True))
                tomb_ops.append(DeleteOne({"_id": item.username, "seq": {"$lt": item.seq}}))
        # Tombstones first: a crash in between leaves a deletion recorded (the next page repeats
        # the user's delete) rather than a deleted user without its tombstone.
        for coll, ops in ((self.tombstones, tomb_ops), (self.users, user_ops)):
            if ops:
                try:
                    coll.bulk_write(ops, ordered=False)
                except BulkWriteError as exc:
                    _ignore_duplicates(exc)
        return len(todo)

    def remove_absent(self, present: set[str], seq: int) -> list[str]:
        """After a full copy: delete the users the home no longer has (their tombstones were trimmed)."""
        gone = [str(d["_id"]) for d in self.users.find({}, {"_id": 1}) if str(d["_id"]) not in present]
        self.apply(Incoming(username=u, seq=seq, doc=None) for u in gone)
        return gone

    def counts(self) -> tuple[int, int]:
        """(users, tombstones) here, for the consistency checks."""
        return self.users.count_documents({}), self.tombstones.count_documents({})

    # -- cursor and status --------------------------------------------------------------------
    def load_state(self) -> SyncState:
        d = self.state.find_one({"_id": STATE_ID}) or {}
        return SyncState(
            cursor=d.get("cursor"),
            synced_at=d.get("synced_at"),
            offline_since=d.get("offline_since"),
            head=d.get("head"),
        )

    def save_synced(self, cursor: int, head: int) -> None:
        self.state.update_one(
            {"_id": STATE_ID},
            {"$set": {"cursor": cursor, "head": head, "synced_at": self._now(), "offline_since": None}},
            upsert=True,
        )

    def save_offline(self) -> None:
        """Mark the first failed exchange since the last success (later failures keep its time)."""
        with contextlib.suppress(DuplicateKeyError):  # already marked offline
            self.state.update_one(
                {"_id": STATE_ID, "offline_since": None}, {"$set": {"offline_since": self._now()}}, upsert=True
            )

    def forget_cursor(self) -> None:
        """The home trimmed past the cursor: the next sync is a full copy (the users stay until then)."""
        self.state.update_one({"_id": STATE_ID}, {"$set": {"cursor": None}}, upsert=True)

    def acquire_lease(self, owner: str, ttl_s: float) -> bool:
        """One recognizer pod per site pulls from the home; the lease passes on when its holder stops renewing."""
        now = self._now()
        try:
            self.state.update_one(
                {"_id": LEASE_ID, "$or": [{"owner": owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": owner, "until": now + timedelta(seconds=ttl_s)}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True
