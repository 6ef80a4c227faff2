"""Repository over the MongoDB wire protocol (MongoDB 7 in the cloud, FerretDB/SQLite on the edge).

Collections:
- `users`: one document per user (unique `username`), the user's embeddings as ONE encrypted blob,
  so an enrolment or an added face is a single-document write: all or nothing.
- `meta`: a change counter (`_id: "users"`) bumped after every user change, so every replica's
  in-memory index notices changes made elsewhere with one cheap read.
- `audit`: login attempts (no biometric data); expire after the retention (TTL index where the
  server supports it, plus a periodic purge because FerretDB 1.x has no TTL indexes).
- `lockouts`: recent failures and lock expiry per username.
- `revoked_tokens`: tokens logged out before they expire, by their digest, kept until they would
  have expired (every replica of the site reads them; tokens are per site).
- fleet-wide users: `changes` and `change_intents` (the home's numbered change log,
  storage/changelog.py), `sync_sites` (the home's replica credentials, storage/sites.py),
  `tombstones` and `replica_state` (a replica's deletions and cursor, storage/replica.py). Every
  user write here is announced in the change log, so any site can serve as a home.

Every driver failure becomes FacefleetError(UNAVAILABLE) so the HTTP layer answers 503, never 500.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar, cast

import numpy as np
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.write_concern import WriteConcern

from recognizer import defaults
from recognizer.errors import ErrorCode, FacefleetError
from recognizer.storage.changelog import Change, ChangeLog
from recognizer.storage.crypto import DecryptionError, EmbeddingCipher
from recognizer.storage.replica import ReplicaStore
from recognizer.storage.sites import SiteRegistry

log = logging.getLogger(__name__)

P = ParamSpec("P")
Doc = dict[str, Any]
R = TypeVar("R")
MAX_UPDATE_RETRIES = 8
DEFAULT_DB = "facefleet"
# MongoDB server error codes
INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT = 85, 86


def _unavailable(fn: Callable[..., Any], exc: PyMongoError) -> FacefleetError:
    log.warning("database error", extra={"fields": {"op": fn.__name__, "error": type(exc).__name__}})
    return FacefleetError(ErrorCode.UNAVAILABLE, "The database is unreachable; try again shortly.")


def unavailable_on_db_error(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn driver errors (timeouts, refused connections, server errors) into 503 `unavailable`.

    A generator function's body runs while it is iterated, after the call has returned, so the
    error is caught around the iteration there (a cursor can fail on any batch)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except FacefleetError:
                raise
            except PyMongoError as exc:
                raise _unavailable(fn, exc) from exc

        return cast(Callable[P, R], generator_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except FacefleetError:
            raise
        except PyMongoError as exc:
            raise _unavailable(fn, exc) from exc

    return wrapper


@dataclass(frozen=True)
class UserRecord:
    id: str
    username: str
    model: str
    consent: bool
    faces: int
    created_at: datetime
    updated_at: datetime
    embeddings: np.ndarray | None = None  # (faces, 128) float32, only when asked for
    seq: int = 0  # the home's number of the change that wrote this state (0: not announced yet)


@dataclass(frozen=True)
class RekeyReport:
    """What `rekey_users` did: every user is in exactly one of the last four counts."""

    users: int
    rekeyed: int
    already_current: int
    unreadable: int  # neither key authenticates the blob: left untouched
    changed_meanwhile: int  # another writer changed the user between read and write: run rekey again


@dataclass(frozen=True)
class Attempt:
    at: datetime
    result: str
    distance: float | None


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class Repository:
    def __init__(
        self,
        url: str,
        db_name: str,
        cipher: EmbeddingCipher,
        *,
        timeout_ms: int = defaults.DB_TIMEOUT_MS,
        audit_retention_s: int = defaults.AUDIT_RETENTION_S,
        sync_retention_s: int = defaults.SYNC_RETENTION_S,
        clock: Callable[[], datetime] | None = None,
        username: str = "",
        password: str = "",
    ) -> None:
        # Credentials apart from the URL need no escaping; the URL's authSource still applies.
        credentials: dict[str, Any] = {"username": username, "password": password} if username else {}
        self._client: MongoClient[dict[str, Any]] = MongoClient(
            url,
            **credentials,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
            tz_aware=True,
            appname="facefleet-recognizer",
        )
        # Majority + journal: an acknowledged enrolment survives a crash or a primary failover.
        name = db_name or self._client.get_default_database(DEFAULT_DB).name  # the URL's path, else DEFAULT_DB
        db = self._client.get_database(name, write_concern=WriteConcern(w="majority", j=True))
        self.users = db["users"]
        self.meta = db["meta"]
        self.audit = db["audit"]
        self.lockouts = db["lockouts"]
        self.revoked_tokens = db["revoked_tokens"]
        self._cipher = cipher
        self._retention = timedelta(seconds=audit_retention_s)
        self._now = clock or (lambda: datetime.now(UTC))
        self._sync_retention_s = sync_retention_s
        self.changelog = ChangeLog(db, self.users, self._now)
        self.sites = SiteRegistry(db, self._now)
        self.replica = ReplicaStore(db, self.users, self._now)
        self.ttl_supported = True

    def close(self) -> None:
        self._client.close()

    # -- set-up and health ------------------------------------------------------------------
    @unavailable_on_db_error
    def ping(self) -> None:
        self._client.admin.command("ping")

    @unavailable_on_db_error
    def ensure_indexes(self) -> None:
        self.users.create_index([("username", ASCENDING)], unique=True, name="username_unique")
        self.audit.create_index([("username", ASCENDING), ("at", DESCENDING)], name="username_at")
        self.changelog.ensure_indexes()
        retention = int(self._retention.total_seconds())
        try:
            self._ttl_index(self.audit, "at", "at_ttl", retention)
            self._ttl_index(self.lockouts, "expires_at", "expires_ttl", 0)
            self._ttl_index(self.revoked_tokens, "expires_at", "expires_ttl", 0)
        except OperationFailure as exc:
            # FerretDB 1.x answers NotImplemented (238) for expireAfterSeconds; whatever the reason,
            # the periodic purge_expired keeps retention without the index.
            self.ttl_supported = False
            log.info("TTL indexes unsupported, purging periodically", extra={"fields": {"reason": exc.code}})
            self.audit.create_index([("at", ASCENDING)], name="at")

    def _ttl_index(self, coll: Any, key: str, name: str, seconds: int) -> None:
        """Create a TTL index, or change its expiry in place (collMod) when the retention setting changed."""
        try:
            coll.create_index([(key, ASCENDING)], name=name, expireAfterSeconds=seconds)
        except OperationFailure as exc:
            if exc.code not in (INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT):
                raise
            coll.database.command("collMod", coll.name, index={"name": name, "expireAfterSeconds": seconds})

    @unavailable_on_db_error
    def purge_expired(self) -> int:
        """Delete audit entries past retention, expired lockouts and revocations (the TTL index's job on MongoDB)."""
        now = self._now()
        n = self.audit.delete_many({"at": {"$lt": now - self._retention}}).deleted_count
        self.lockouts.delete_many({"expires_at": {"$lt": now}})
        self.revoked_tokens.delete_many({"expires_at": {"$lt": now}})
        self.changelog.trim(self._sync_retention_s)
        return n

    @unavailable_on_db_error
    def repair_changes(self) -> int:
        """Announce user writes whose writer died before announcing them (a small collection: every 30 s)."""
        return self.changelog.repair()

    @unavailable_on_db_error
    def announce_unstamped(self) -> int:
        """Announce the users stored before the change log existed (a scan of the users: once at start)."""
        return self.changelog.announce_unstamped()

    # -- revoked tokens ---------------------------------------------------------------------
    @unavailable_on_db_error
    def revoke_token(self, token_id: str, expires_at: datetime) -> None:
        """Remember a logged-out token until it would have expired anyway (idempotent)."""
        self.revoked_tokens.update_one({"_id": token_id}, {"$set": {"expires_at": _utc(expires_at)}}, upsert=True)

    @unavailable_on_db_error
    def token_revoked(self, token_id: str) -> bool:
        return self.revoked_tokens.find_one({"_id": token_id}, {"_id": 1}) is not None

    # -- change counter ---------------------------------------------------------------------
    @unavailable_on_db_error
    def version(self) -> int:
        doc = self.meta.find_one({"_id": "users"})
        return int(doc["version"]) if doc else 0

    @unavailable_on_db_error
    def bump_version(self) -> int:
        for attempt in range(2):
            try:
                doc = self.meta.find_one_and_update(
                    {"_id": "users"}, {"$inc": {"version": 1}}, upsert=True, return_document=ReturnDocument.AFTER
                )
                assert doc is not None, "an upsert returning the document after it returns one"
                return int(doc["version"])
            except DuplicateKeyError:
                # Two first-ever bumps raced to insert the counter (FerretDB does not retry such
                # upserts): it exists now, so the retry is a plain increment. Without this, the
                # second of two concurrent first enrolments answered 503 after storing the user.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # -- users ------------------------------------------------------------------------------
    def _record(self, doc: dict[str, Any], *, with_embeddings: bool) -> UserRecord:
        emb = None
        if with_embeddings:
            emb = self._cipher.decrypt(bytes(doc["embeddings"]), username=doc["username"], model=doc["model"])
        return UserRecord(
            id=str(doc.get("uid", doc["_id"])),
            username=doc["username"],
            model=doc["model"],
            consent=bool(doc.get("consent")),
            faces=int(doc["faces"]),
            created_at=_utc(doc["created_at"]),
            updated_at=_utc(doc["updated_at"]),
            embeddings=emb,
            seq=int(doc.get("seq", 0)),
        )

    def _new_user(self, username: str, embeddings: np.ndarray, *, model: str, consent: bool, seq: int) -> Doc:
        """A new user's document, as create_user and import_users store it."""
        now = self._now()
        return {
            # `_id` is the username: FerretDB/SQLite pushes only `_id` lookups down to its primary key
            # (any other field is a collection scan: recognizer/README.md, Storage). `uid` is the record's
            # identity, so a token dies with its user even if the name is enrolled again.
            "_id": username,
            "uid": str(ObjectId()),
            "username": username,
            "model": model,
            "consent": consent,
            "consent_at": now,
            "faces": int(len(embeddings)),
            "rev": 1,
            "seq": seq,
            "embeddings": self._cipher.encrypt(embeddings, username=username, model=model),
            "created_at": now,
            "updated_at": now,
        }

    @unavailable_on_db_error
    def create_user(self, username: str, embeddings: np.ndarray, *, model: str, consent: bool) -> UserRecord:
        # seq 0 until the change log's announcement stamps it
        doc = self._new_user(username, embeddings, model=model, consent=consent, seq=0)
        intent = self.changelog.intend(username)
        try:
            self.users.insert_one(doc)
        except DuplicateKeyError as exc:
            self.changelog.done(intent)
            raise FacefleetError(ErrorCode.USER_EXISTS, f"User {username!r} already exists.") from exc
        doc["seq"] = self.changelog.announce(username)
        self.changelog.done(intent)
        return self._record(doc, with_embeddings=False)

    @unavailable_on_db_error
    def import_users(self, users: list[tuple[str, np.ndarray]], *, model: str, consent: bool) -> int:
        """Create many users in a few round trips (benchmarks, tests, migrations); returns how many.

        The same documents as create_user, numbered as one block of changes. A name that exists
        already is skipped (its number voided), so an interrupted import can simply run again.
        """
        if not users:
            return 0
        seqs = self.changelog.allocate_many(len(users))
        docs = [
            self._new_user(username, emb, model=model, consent=consent, seq=seq)
            for (username, emb), seq in zip(users, seqs, strict=True)
        ]
        intents = self.changelog.intend_many([username for username, _ in users])  # a crash: repair() announces
        inserted = set(range(len(docs)))
        try:
            self.users.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            failed = {int(e["index"]) for e in exc.details.get("writeErrors", []) if e.get("code") == 11000}
            if len(failed) != len(exc.details.get("writeErrors", [])):
                raise
            inserted -= failed
        self.changelog.record_many([Change(seq=seqs[i], username=users[i][0]) for i in sorted(inserted)])
        for i in set(range(len(docs))) - inserted:
            self.changelog.void(seqs[i])
        self.changelog.done(*intents)
        return len(inserted)

    @unavailable_on_db_error
    def add_faces(self, username: str, embeddings: np.ndarray, *, model: str) -> UserRecord:
        """Append faces with optimistic concurrency (`rev`), so concurrent additions never lose one."""
        intent = self.changelog.intend(username)
        try:
            return self._add_faces(username, embeddings, model=model)
        finally:
            self.changelog.done(intent)

    def _add_faces(self, username: str, embeddings: np.ndarray, *, model: str) -> UserRecord:
        for _ in range(MAX_UPDATE_RETRIES):
            doc = self.users.find_one({"_id": username})
            if doc is None:
                raise FacefleetError(ErrorCode.NOT_FOUND, f"No user named {username!r}.")
            old = self._record(doc, with_embeddings=True)
            if old.model != model:
                # Embeddings of another model live in another space: the new faces replace them.
                log.warning(
                    "model changed, replacing embeddings",
                    extra={"fields": {"username": username, "old": old.model, "new": model}},
                )
                merged = embeddings
            else:
                merged = embeddings if old.embeddings is None else np.vstack([old.embeddings, embeddings])
            now = self._now()
            update = {
                "$set": {
                    "embeddings": self._cipher.encrypt(merged, username=username, model=model),
                    "faces": int(len(merged)),
                    "model": model,
                    "updated_at": now,
                },
                "$inc": {"rev": 1},
            }
            res = self.users.update_one({"_id": doc["_id"], "rev": doc.get("rev", 1)}, update)
            if res.modified_count == 1:
                return UserRecord(
                    id=old.id,
                    username=username,
                    model=model,
                    consent=old.consent,
                    faces=int(len(merged)),
                    created_at=old.created_at,
                    updated_at=now,
                    seq=self.changelog.announce(username),
                )
        raise FacefleetError(ErrorCode.UNAVAILABLE, "Too many concurrent changes to this user; try again.")

    @unavailable_on_db_error
    def get_user(self, username: str, *, with_embeddings: bool = False) -> UserRecord | None:
        projection = None if with_embeddings else {"embeddings": 0}
        doc = self.users.find_one({"_id": username}, projection)
        return None if doc is None else self._record(doc, with_embeddings=with_embeddings)

    @unavailable_on_db_error
    def list_users(self) -> list[UserRecord]:
        docs = self.users.find({}, {"embeddings": 0}).sort("username", ASCENDING)
        return [self._record(d, with_embeddings=False) for d in docs]

    @unavailable_on_db_error
    def delete_user(self, username: str) -> int | None:
        """Delete the user with every embedding (they live in the one document) and its lockout.

        Returns the change's seq, or None when there was no such user."""
        intent = self.changelog.intend(username)
        try:
            if self.users.delete_one({"_id": username}).deleted_count != 1:
                return None
            self.lockouts.delete_one({"_id": username})
            return self.changelog.announce(username)
        finally:
            self.changelog.done(intent)

    @unavailable_on_db_error
    def all_embeddings(self) -> Iterator[tuple[str, str, str, np.ndarray]]:
        """(username, user id, model, embeddings) for every user: the index's full load."""
        for doc in self.users.find({}, {"username": 1, "uid": 1, "model": 1, "embeddings": 1}):
            try:
                yield (
                    doc["username"],
                    str(doc.get("uid", doc["_id"])),
                    doc["model"],
                    self._cipher.decrypt(bytes(doc["embeddings"]), username=doc["username"], model=doc["model"]),
                )
            except DecryptionError:
                log.error(
                    "cannot decrypt embeddings (wrong FACEFLEET_EMBEDDING_KEY?)",
                    extra={"fields": {"username": doc["username"]}},
                )

    @unavailable_on_db_error
    def rekey_users(self) -> RekeyReport:
        """Re-encrypt with the current key every user's blob that only the previous key opens.

        Compare-and-set on `rev` (as add_faces does): a user changed in between is counted and left
        for the next run, never overwritten. The embeddings do not change, so the 1:N index needs no
        reload.
        """
        users = rekeyed = current = unreadable = changed = 0
        for doc in self.users.find({}, {"username": 1, "model": 1, "embeddings": 1, "rev": 1}):
            users += 1
            try:
                matrix, is_current = self._cipher.decrypt_and_check(
                    bytes(doc["embeddings"]), username=doc["username"], model=doc["model"]
                )
            except DecryptionError:
                unreadable += 1
                log.error(
                    "cannot decrypt embeddings with the current or the previous key",
                    extra={"fields": {"username": doc["username"]}},
                )
                continue
            if is_current:
                current += 1
                continue
            blob = self._cipher.encrypt(matrix, username=doc["username"], model=doc["model"])
            intent = self.changelog.intend(doc["username"])
            res = self.users.update_one(
                {"_id": doc["_id"], "rev": doc.get("rev", 1)}, {"$set": {"embeddings": blob}, "$inc": {"rev": 1}}
            )
            if res.modified_count == 1:
                self.changelog.announce(doc["username"])  # replicas receive the re-encrypted blob
                rekeyed += 1
            else:
                changed += 1
            self.changelog.done(intent)
        return RekeyReport(
            users=users, rekeyed=rekeyed, already_current=current, unreadable=unreadable, changed_meanwhile=changed
        )

    # -- audit ------------------------------------------------------------------------------
    @unavailable_on_db_error
    def record_attempt(self, *, username: str | None, mode: str, result: str, distance: float | None) -> None:
        self.audit.insert_one(
            {
                "at": self._now(),
                "username": username,
                "mode": mode,
                "result": result,
                "distance": None if distance is None else float(distance),
            }
        )

    @unavailable_on_db_error
    def attempts(self, username: str, limit: int = defaults.ATTEMPTS_LIMIT) -> list[Attempt]:
        cutoff = self._now() - self._retention
        docs = self.audit.find({"username": username, "at": {"$gte": cutoff}}).sort("at", DESCENDING).limit(limit)
        return [Attempt(at=_utc(d["at"]), result=d["result"], distance=d.get("distance")) for d in docs]

    # -- lockout ----------------------------------------------------------------------------
    @unavailable_on_db_error
    def locked_until(self, username: str) -> datetime | None:
        doc = self.lockouts.find_one({"_id": username})
        until = doc.get("locked_until") if doc else None
        return _utc(until) if until and _utc(until) > self._now() else None

    @unavailable_on_db_error
    def register_failure(self, username: str, *, max_failures: int, window_s: int, lock_s: int) -> datetime | None:
        """Count a failed login; returns the lock expiry when this failure locks the username.

        The failure is appended atomically ($push), so concurrent failures are never lost: a
        read-modify-write here let a burst of parallel guesses overwrite each other's counts and
        never reach the lock (tests/reliability/test_abuse.py).
        """
        now = self._now()
        window = timedelta(seconds=window_s)
        for attempt in range(2):
            try:
                doc = self.lockouts.find_one_and_update(
                    {"_id": username},
                    {"$push": {"failures": now}, "$max": {"expires_at": now + window}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                break
            except DuplicateKeyError:  # concurrent first failures raced to insert it: it exists now
                if attempt:
                    raise
        assert doc is not None, "an upsert returning the document after it returns one"
        recent = [_utc(t) for t in doc.get("failures", []) if _utc(t) > now - window]
        if len(recent) < max_failures:
            if len(doc.get("failures", [])) > 4 * max_failures:  # drop entries that left the window
                self.lockouts.update_one({"_id": username}, {"$set": {"failures": recent}})
            return None
        locked_until = now + timedelta(seconds=lock_s)
        self.lockouts.update_one(
            {"_id": username},
            {
                "$set": {"failures": [], "locked_until": locked_until},
                "$max": {"expires_at": max(now + window, locked_until)},
            },
        )
        return locked_until

    @unavailable_on_db_error
    def clear_failures(self, username: str) -> None:
        self.lockouts.delete_one({"_id": username})
