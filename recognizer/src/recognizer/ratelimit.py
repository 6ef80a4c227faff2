"""Per-client limit on failed 1:N identify attempts (in memory, per replica).

Lockout protects a username; 1:N identify has no username, so an attacker could try face after
face against every enrolled user. This counts failed identifies (no_match) per client address
in a sliding window; once a client has FACEFLEET_IDENTIFY_RATE_FAILURES of them, its further
identify attempts answer 429 `locked_out` (with Retry-After) until the oldest failure leaves
the window. Memory is bounded: at most MAX_CLIENTS addresses are tracked (oldest dropped).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_CLIENTS = 10_000


class FailureLimiter:
    def __init__(self, max_failures: int, window_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures  # 0 disables the limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, key: str | None) -> int | None:
        """Seconds until `key` may identify again, or None when it may now."""
        if not self.max_failures or key is None:
            return None
        with self._lock:
            now = self._clock()
            q = self._recent(key, now)
            if len(q) < self.max_failures:
                return None
            return max(1, math.ceil(q[-self.max_failures] + self.window_s - now))

    def record_failure(self, key: str | None) -> None:
        if not self.max_failures or key is None:
            return
        with self._lock:
            now = self._clock()
            q = self._recent(key, now)
            q.append(now)
            while len(q) > self.max_failures:
                q.popleft()
            self._failures[key] = q
            self._failures.move_to_end(key)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)
