"""The home's numbered log of user changes, which replicas read in order (recognizer/README.md, sync).

Why it is built this way, on a database without multi-document transactions:
- Every write to a user is *announced* after it is stored: a sequence number is allocated from a
  counter, stamped on the user's document (`seq`, only ever raised), and a change record
  `{_id: seq, username}` is inserted. A replica reads the records in `seq` order and fetches the
  user's state *as it is then*, so it always converges on the home's latest state, whichever
  order concurrent writers finished in: the last write's stamp is allocated after its content
  was stored, so it is the highest and carries the final content.
- A writer announces only after its write, so a record can be missing below a later one for a
  moment (a writer between allocation and insert). The feed stops at such a gap; a gap that
  outlives GAP_GRACE_S (a crashed writer) is filled with a void record, and a writer that finds
  its number voided announces again with a fresh one.
- A crash between the write and its announcement would leave replicas behind for good, so every
  write first records an *intent*; `repair()` announces the intents older than INTENT_GRACE_S.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

log = logging.getLogger(__name__)

Doc = dict[str, Any]
COUNTER_ID = "changes"
GAP_GRACE_S = 10.0  # far above any write's duration; a gap older than this is a crashed writer
INTENT_GRACE_S = 30.0
MAX_REANNOUNCE = 8


class Voided(Exception):
    """The change's number was voided by the feed (the writer was slower than GAP_GRACE_S)."""


@dataclass(frozen=True)
class Change:
    seq: int
    username: str


@dataclass(frozen=True)
class FeedPage:
    """Changes after a cursor, in order; `next` is the cursor to send next, `head` the last committed seq."""

    changes: list[Change]
    next: int
    head: int


class CursorExpired(Exception):
    """The changes after this cursor were trimmed: the replica must make a full copy."""


class ChangeLog:
    """Allocates, records and serves the numbered changes of the `users` collection."""

    def __init__(self, db: Database[Doc], users: Collection[Doc], now: Callable[[], datetime]) -> None:
        self.changes = db["changes"]
        self.intents = db["change_intents"]
        self.meta = db["meta"]
        self.users = users
        self._now = now
        self._gaps: dict[int, float] = {}  # seq -> monotonic time this process first saw it missing
        self._gaps_lock = threading.Lock()

    def ensure_indexes(self) -> None:
        self.changes.create_index([("at", ASCENDING)], name="at")
        self.intents.create_index([("at", ASCENDING)], name="at")

    # -- writing ------------------------------------------------------------------------------
    def intend(self, username: str) -> ObjectId:
        """Record that `username` is about to change (repair() announces it if the writer dies)."""
        oid = ObjectId()
        self.intents.insert_one({"_id": oid, "username": username, "at": self._now()})
        return oid

    def intend_many(self, usernames: list[str]) -> list[ObjectId]:
        now = self._now()
        ids = [ObjectId() for _ in usernames]
        if ids:
            self.intents.insert_many(
                [{"_id": i, "username": u, "at": now} for i, u in zip(ids, usernames, strict=True)]
            )
        return ids

    def done(self, *intents: ObjectId) -> None:
        if len(intents) == 1:
            self.intents.delete_one({"_id": intents[0]})
        elif intents:
            self.intents.delete_many({"_id": {"$in": list(intents)}})

    def announce(self, username: str) -> int:
        """Number the stored change of `username`: allocate, stamp the document, record. Returns the seq."""
        for _ in range(MAX_REANNOUNCE):
            seq = self._allocate()
            # $max: a slower writer's lower number never lowers a stamp; absent (deleted) users get none.
            self.users.update_one({"_id": username}, {"$max": {"seq": seq}})
            try:
                self.changes.insert_one({"_id": seq, "username": username, "at": self._now()})
                return seq
            except DuplicateKeyError:
                log.warning("change number voided, announcing again", extra={"fields": {"seq": seq}})
        raise RuntimeError(f"could not announce a change of {username!r}")

    def void(self, seq: int) -> None:
        """Fill a number that will never be recorded (idempotent; a recorded number stays as it is)."""
        with contextlib.suppress(DuplicateKeyError):
            self.changes.insert_one({"_id": seq, "void": True, "at": self._now()})

    def allocate_many(self, n: int) -> range:
        """`n` consecutive numbers for a bulk import, which stamps and records them itself."""
        last = self._allocate(n)
        return range(last - n + 1, last + 1)

    def record_many(self, changes: list[Change]) -> None:
        if changes:
            now = self._now()
            self.changes.insert_many([{"_id": c.seq, "username": c.username, "at": now} for c in changes])

    def _allocate(self, n: int = 1) -> int:
        for attempt in range(2):
            try:
                doc = self.meta.find_one_and_update(
                    {"_id": COUNTER_ID}, {"$inc": {"seq": n}}, upsert=True, return_document=ReturnDocument.AFTER
                )
                assert doc is not None, "an upsert returning the document after it returns one"
                return int(doc["seq"])
            except DuplicateKeyError:  # two first-ever allocations raced to insert the counter
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def announce_unstamped(self) -> int:
        """Announce users stored before the change log existed (or whose announcement is still due)."""
        names = [str(d["_id"]) for d in self.users.find({"$or": [{"seq": {"$exists": False}}, {"seq": 0}]}, {"_id": 1})]
        for username in names:
            self.announce(username)
        return len(names)

    def repair(self) -> int:
        """Announce the changes whose writer died between storing and announcing them; returns how many."""
        cutoff = self._now() - timedelta(seconds=INTENT_GRACE_S)
        n = 0
        for intent in list(self.intents.find({"at": {"$lt": cutoff}})):
            self.announce(intent["username"])
            self.intents.delete_one({"_id": intent["_id"]})
            n += 1
        if n:
            log.warning("announced changes of interrupted writes", extra={"fields": {"changes": n}})
        return n

    # -- reading ------------------------------------------------------------------------------
    def _counter(self) -> tuple[int, int]:
        """(the last number allocated, the last number trimmed): one read of a tiny collection."""
        doc = self.meta.find_one({"_id": COUNTER_ID}) or {}
        return int(doc.get("seq", 0)), int(doc.get("trimmed_through", 0))

    def head(self) -> int:
        """The last number allocated: every change up to it is stored (announced or about to be)."""
        return self._counter()[0]

    def read(self, after: int, limit: int) -> FeedPage:
        """The changes after `after`, in order, up to the first gap that is still within its grace."""
        head, trimmed_through = self._counter()
        if after < trimmed_through:
            raise CursorExpired(after)
        if after >= head:  # the idle poll: nothing new, and no scan of the log
            return FeedPage(changes=[], next=after, head=head)
        docs = list(self.changes.find({"_id": {"$gt": after}}).sort("_id", ASCENDING).limit(limit))
        changes: list[Change] = []
        expected = after + 1
        for doc in docs:
            seq = int(doc["_id"])
            if seq != expected and not self._settle(range(expected, seq)):
                break
            if not doc.get("void"):
                changes.append(Change(seq=seq, username=str(doc["username"])))
            expected = seq + 1
        else:  # numbers allocated after the last record: in flight, or a writer that died
            if len(docs) < limit and expected <= head and self._settle(range(expected, head + 1)):
                expected = head + 1
        return FeedPage(changes=changes, next=expected - 1, head=head)

    def _settle(self, missing: Iterable[int]) -> bool:
        """True when every missing number is voided now (each was missing for GAP_GRACE_S)."""
        now = time.monotonic()
        missing = list(missing)
        with self._gaps_lock:
            first_seen = [self._gaps.setdefault(seq, now) for seq in missing]
        if any(now - seen < GAP_GRACE_S for seen in first_seen):
            return False
        for seq in missing:
            self.void(seq)
        with self._gaps_lock:
            for seq in missing:
                self._gaps.pop(seq, None)
        # A writer may have recorded a number just before the void: the caller re-reads next time.
        return all(self.changes.find_one({"_id": seq, "void": True}, {"_id": 1}) is not None for seq in missing)

    def states(self, usernames: Iterable[str]) -> dict[str, Doc]:
        """The current documents of these users (absent = deleted)."""
        names = sorted(set(usernames))
        if not names:
            return {}
        return {str(d["_id"]): d for d in self.users.find({"_id": {"$in": names}})}

    def every_user(self) -> Iterator[Doc]:
        """Every user document, in one pass and no order (a sort is a scan and more on FerretDB)."""
        yield from self.users.find({}, batch_size=500)

    def trim(self, retention_s: int) -> int:
        """Drop change records older than the retention; replicas behind them make a full copy."""
        cutoff = self._now() - timedelta(seconds=retention_s)
        last = self.changes.find_one({"at": {"$lt": cutoff}}, {"_id": 1}, sort=[("_id", DESCENDING)])
        if last is None:
            return 0
        through = int(last["_id"])
        self.meta.update_one({"_id": COUNTER_ID}, {"$max": {"trimmed_through": through}}, upsert=True)
        return self.changes.delete_many({"_id": {"$lte": through}}).deleted_count
