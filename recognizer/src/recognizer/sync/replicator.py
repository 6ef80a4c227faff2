"""A replica's pull loop: copy the home's users, then follow its numbered changes (README, sync).

One recognizer pod per site pulls (a lease in the replica's database); every pod reads the same
status from there, so all of them refuse logins together once the copy is too old. Progress is
stored after every applied page, so a restart or a crash on either side resumes from the cursor;
a full copy interrupted by a restart starts over (it never removes anything before it is done).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from recognizer.config import Settings
from recognizer.defaults import SYNC_PAGE
from recognizer.errors import ErrorCode, FacefleetError
from recognizer.index import EmbeddingIndex
from recognizer.storage import Repository
from recognizer.storage.replica import Incoming, SyncState
from recognizer.sync.client import CursorExpired, HomeClient, HomeUnreachable
from recognizer.sync.wire import SiteStatus, SnapshotEnd, SnapshotStart, UserState

log = logging.getLogger(__name__)
STATUS_CACHE_S = 1.0  # a pod that does not hold the lease re-reads the shared status this often
RELOAD_EVERY_S = 5.0  # while a long catch-up runs, the 1:N index is rebuilt at most this often
STAGE_BATCH = 500


def _incoming(user: UserState) -> Incoming:
    return Incoming(username=user.username, seq=user.seq, doc=user.to_doc())


class Replicator:
    def __init__(
        self,
        settings: Settings,
        repo: Repository,
        index: EmbeddingIndex,
        client: HomeClient,
        *,
        page: int = SYNC_PAGE,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.index = index
        self.client = client
        self.page = page
        # The host's name: a restarted process takes its lease back at once; another pod waits for it.
        self.owner = socket.gethostname() or uuid.uuid4().hex
        self._now = now or (lambda: datetime.now(UTC))
        self._state = SyncState(cursor=None, synced_at=None, offline_since=None, head=None)
        self._state_read = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._collector = _ReplicaMetrics(self)
        self.outcomes: dict[str, int] = {}
        self.applied = 0
        self._reloaded_at = 0.0

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        REGISTRY.register(self._collector)
        self._thread = threading.Thread(target=self._run, name="replica-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=15)
            REGISTRY.unregister(self._collector)
            with contextlib.suppress(Exception):
                self.repo.replica.release_lease(self.owner)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            more = False
            try:
                more = self.sync_once()
                self._count("ok")
            except (HomeUnreachable, FacefleetError) as exc:
                self._count("unauthorized" if getattr(exc, "code", None) == ErrorCode.UNAUTHORIZED else "unreachable")
                self._offline(exc)
            except Exception as exc:  # the replica's own database may be away: keep serving, retry
                self._count("error")
                log.warning("sync failed", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
            if not more:
                self._wake.wait(self.settings.sync_interval_s)
                self._wake.clear()

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def _offline(self, exc: Exception) -> None:
        log.warning("cannot sync with the home", extra={"fields": {"error": str(exc)[:300]}})
        try:
            self.repo.replica.save_offline()
            self._state = self.repo.replica.load_state()
        except Exception:
            pass

    # -- one round ------------------------------------------------------------------------------
    def sync_once(self) -> bool:
        """Pull one page (or a whole copy); True when more is waiting at the home."""
        ttl = max(10.0, 5 * self.settings.sync_interval_s)
        if not self.repo.replica.acquire_lease(self.owner, ttl):
            self._state = self.repo.replica.load_state()  # another pod of this site pulls
            return False
        state = self.repo.replica.load_state()
        if state.cursor is None:
            self.full_copy()
            return False
        try:
            page = self.client.changes(state.cursor, self.page)
        except CursorExpired:
            log.warning("the home trimmed past the cursor: full copy", extra={"fields": {"cursor": state.cursor}})
            self.full_copy()
            return False
        if page.head - state.cursor > self.settings.sync_copy_beyond:
            log.info("far behind the home: full copy", extra={"fields": {"behind": page.head - state.cursor}})
            self.full_copy()
            return False
        items = [
            _incoming(c.user) if c.user is not None else Incoming(username=c.username, seq=c.seq, doc=None)
            for c in page.changes
        ]
        changed = self.repo.replica.apply(items, floor=state.floor)
        more = page.next > state.cursor and page.next < page.head
        if changed:
            self.applied += changed
            self._users_changed(final=not more)
        self.repo.replica.save_synced(page.next, page.head)
        self._state = self.repo.replica.load_state()
        return more

    def full_copy(self) -> None:
        """Copy every user from the home into a staging collection, then swap it in whole."""
        start = time.perf_counter()
        store = self.repo.replica
        store.begin_copy()  # a crash from here on means a new copy on restart
        head: int | None = None
        batch: list[dict[str, object]] = []
        copied, complete = 0, False
        for item in self.client.snapshot():
            if isinstance(item, SnapshotStart):
                head = item.head
            elif isinstance(item, SnapshotEnd):
                complete = item.users == copied
            else:
                batch.append(item.to_doc())
                copied += 1
                if len(batch) >= STAGE_BATCH:
                    store.stage(batch)
                    batch = []
        if head is None or not complete:
            raise HomeUnreachable("the home's snapshot ended early; the copy starts over")
        store.stage(batch)
        store.swap_in_copy(head)
        self.applied += copied
        self._users_changed(final=True)
        store.save_synced(head, head)
        self._state = store.load_state()
        log.info(
            "full copy done",
            extra={"fields": {"users": copied, "head": head, "seconds": round(time.perf_counter() - start, 2)}},
        )

    def _users_changed(self, *, final: bool) -> None:
        """Tell every pod's index (the change counter), and rebuild this pod's own now when caught up."""
        self.repo.bump_version()
        if final or time.monotonic() - self._reloaded_at > RELOAD_EVERY_S:
            while not self.index.reload():
                pass
            self._reloaded_at = time.monotonic()

    # -- status ---------------------------------------------------------------------------------
    def state(self) -> SyncState:
        """The shared status, re-read from the database at most every STATUS_CACHE_S."""
        if time.monotonic() - self._state_read > STATUS_CACHE_S:
            with contextlib.suppress(Exception):  # the replica's database is away: the last status stands
                self._state = self.repo.replica.load_state()
            self._state_read = time.monotonic()
        return self._state

    def status(self) -> SiteStatus:
        st = self.state()
        lag = None if st.synced_at is None else max(0.0, (self._now() - st.synced_at).total_seconds())
        behind = None if st.head is None or st.cursor is None else max(0, st.head - st.cursor)
        # Stale by the age of the last successful sync, not by the cursor: a re-copy (the cursor is dropped
        # while it runs) keeps serving the users it has, within the bound; only a replica that never
        # completed a copy has nothing to serve.
        stale = lag is None or lag > self.settings.replica_max_staleness_s
        return SiteStatus(
            site=self.settings.site,
            role="replica",
            last_sync_at=st.synced_at,
            lag_s=None if lag is None else round(lag, 3),
            changes_behind=behind,
            offline=st.offline_since is not None,
            stale=stale,
            max_staleness_s=self.settings.replica_max_staleness_s,
        )

    def check_fresh(self) -> None:
        """The login gate: 503 replica_stale when the copy is older than the bound (or not made yet)."""
        s = self.status()
        if not s.stale:
            return
        if s.last_sync_at is None:
            raise FacefleetError(
                ErrorCode.REPLICA_STALE,
                "This site has not finished its first copy of the users from the home yet; try again shortly.",
            )
        raise FacefleetError(
            ErrorCode.REPLICA_STALE,
            f"This site has not synced with the home for {int(s.lag_s or 0)} s (the limit is "
            f"{self.settings.replica_max_staleness_s} s), so it cannot know who was deleted meanwhile.",
        )

    def wait_for(self, seq: int, timeout_s: float) -> bool:
        """Wait until this site has applied change `seq` (a write it forwarded); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._wake.set()
            self._state_read = 0.0
            cursor = self.state().cursor
            if cursor is not None and cursor >= seq:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


class _ReplicaMetrics(Collector):
    """The replica's lag and counters, computed at scrape time (registered only on replicas)."""

    def __init__(self, replicator: Replicator) -> None:
        self.r = replicator

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self.r.status()
        lag = GaugeMetricFamily("facefleet_replica_lag_seconds", "Seconds since the last successful sync with the home")
        lag.add_metric([], float("inf") if s.lag_s is None else s.lag_s)
        yield lag
        behind = GaugeMetricFamily(
            "facefleet_replica_changes_behind", "The home's last change minus this replica's cursor, as last seen"
        )
        behind.add_metric([], float("nan") if s.changes_behind is None else s.changes_behind)
        yield behind
        offline = GaugeMetricFamily("facefleet_replica_offline", "1 while the last exchange with the home failed")
        offline.add_metric([], 1.0 if s.offline else 0.0)
        yield offline
        stale = GaugeMetricFamily("facefleet_replica_stale", "1 while logins answer 503 replica_stale")
        stale.add_metric([], 1.0 if s.stale else 0.0)
        yield stale
        requests = CounterMetricFamily(
            "facefleet_sync_requests", "Sync rounds with the home by outcome (this pod)", labels=["outcome"]
        )
        for outcome, n in sorted(self.r.outcomes.items()):
            requests.add_metric([outcome], n)
        yield requests
        applied = CounterMetricFamily("facefleet_sync_changes_applied", "Users changed by sync (this pod)")
        applied.add_metric([], self.r.applied)
        yield applied
        rx = CounterMetricFamily("facefleet_sync_received_bytes", "Bytes received from the home (this pod)")
        rx.add_metric([], self.r.client.bytes_received)
        yield rx
