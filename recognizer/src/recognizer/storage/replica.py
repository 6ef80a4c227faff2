"""A replica's copy of the home's users, in its own database (recognizer/README.md, sync).

The replicated users live in the same `users` collection the login path reads, so a replica
decides logins exactly as the home does. What makes applying safe to repeat:
- every user document carries `seq`, the home's number of the change that wrote that state, and
  a deleted user leaves a tombstone (`tombstones`, `{_id: username, seq}`); after a full copy,
  `floor` is the home's head it was taken at, and everything up to it is in the copy. A state or
  tombstone whose `seq` is not above the user's `seq`, its tombstone and the floor changes
  nothing, so duplicated, replayed and reordered pages are harmless and nothing deleted comes back;
- a state replaces the user's document whole (faces included);
- the cursor, the floor, the last successful sync and the sync lease live in `replica_state`, so
  a restart resumes where it stopped and every recognizer pod of the site shows the same status.

Writes are shaped for FerretDB/SQLite, where a filtered operation scans the collection: a page is
applied with a handful of set operations whatever its size (bench/README.md, sync), and a full
copy is written into `users_copy` and renamed over `users` once complete.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

Doc = dict[str, Any]
STATE_ID, LEASE_ID = "sync", "lease"
COPY = "users_copy"


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
    floor: int = 0  # the head the last full copy was taken at


class ReplicaStore:
    def __init__(self, db: Database[Doc], users: Collection[Doc], now: Callable[[], datetime]) -> None:
        self.db = db
        self.users = users
        self.tombstones = db["tombstones"]
        self.state = db["replica_state"]
        self._now = now

    # -- applying changes ---------------------------------------------------------------------
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

    def apply(self, incoming: Iterable[Incoming], *, floor: int = 0) -> int:
        """Apply what is newer than what is here; returns how many users changed.

        Users first, tombstones second: a crash in between is repaired by applying the same page
        again (the cursor moves only after a page is applied)."""
        latest: dict[str, Incoming] = {}
        for item in incoming:  # within a page, only each user's newest state counts
            if item.username not in latest or item.seq > latest[item.username].seq:
                latest[item.username] = item
        have = self.local_seqs(latest)
        todo = [i for i in latest.values() if i.seq > max(floor, have.get(i.username, 0))]
        if not todo:
            return 0
        names = [i.username for i in todo]
        states = [{**i.doc, "_id": i.username, "seq": i.seq} for i in todo if i.doc is not None]
        deletions = [{"_id": i.username, "seq": i.seq} for i in todo if i.doc is None]
        self.users.delete_many({"_id": {"$in": names}})
        if states:
            self.users.insert_many(states, ordered=False)
        self.tombstones.delete_many({"_id": {"$in": names}})
        if deletions:
            self.tombstones.insert_many(deletions, ordered=False)
        return len(todo)

    # -- a full copy --------------------------------------------------------------------------
    def begin_copy(self) -> None:
        """Start a full copy: an empty staging collection, and no cursor until it is swapped in."""
        self.forget_cursor()
        self.db.drop_collection(COPY)

    def stage(self, docs: list[Doc]) -> None:
        if docs:
            self.db[COPY].insert_many(docs, ordered=False)

    def swap_in_copy(self, head: int) -> None:
        """The complete copy replaces the users at once; tombstones give way to the floor."""
        copy = self.db[COPY]
        copy.create_index([("username", ASCENDING)], unique=True, name="username_unique")
        self.db.drop_collection(self.users.name)  # FerretDB renames only onto a free name
        copy.rename(self.users.name)
        self.tombstones.delete_many({})
        self.state.update_one({"_id": STATE_ID}, {"$set": {"floor": head}}, upsert=True)

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
            floor=int(d.get("floor", 0)),
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
        """The next sync is a full copy (the users stay until it is complete)."""
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

    def release_lease(self, owner: str) -> None:
        self.state.delete_one({"_id": LEASE_ID, "owner": owner})
