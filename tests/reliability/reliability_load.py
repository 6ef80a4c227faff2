"""Load driver for the reliability tests and `make soak`: concurrent clients, counted outcomes, RSS.

One code path for both lengths: `make test` runs it for ~20-30 s, `make soak` for minutes
(FACEFLEET_SOAK_S, FACEFLEET_SOAK_CLIENTS). Each client thread owns an httpx client and draws
operations from a fixed mix (enrol, 1:1 login, 1:N identify) with a seeded RNG, so a run is
reproducible in its choices (not its timings). Every request is recorded (operation, status,
error code, latency); every acknowledged enrolment (201) is remembered so a test can prove it
was not lost. The server's resident memory is sampled from /proc while the load runs.

Only 127.0.0.1 is ever contacted: the base URL comes from support.stack servers.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from facefleet_testing.recognizer_api import img
from facefleet_testing.stack import status_kb

#: (enrolment image, a different probe of the same person) per person in the test faces.
PEOPLE = {"astronaut": ("astronaut", "astronaut2"), "hopper": ("hopper", "hopper2")}
DEFAULT_MIX = {"enrol": 0.2, "login": 0.4, "identify": 0.4}


def rss_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) in kB of the server and its face workers."""
    return {k: v or 0 for k, v in status_kb(pid).items()}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Outcome:
    op: str
    status: int  # 0: no HTTP answer (timeout or connection error)
    code: str  # the contract error code, "" on success, or the transport error's type
    seconds: float
    at: float  # seconds since the run started
    username: str = ""


@dataclass
class LoadRun:
    """Run `clients` threads against `base_url` until `duration_s` passes or `max_requests` are sent."""

    base_url: str
    api_key: str
    clients: int = 4
    duration_s: float = 20.0
    max_requests: int = 100_000
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    timeout_s: float = 30.0
    seed: int = 1
    prefix: str = "load"
    server_pid: int | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # username -> faces, from 201 answers
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds, VmRSS kB)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sent: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._t0 = 0.0

    # -- one request ------------------------------------------------------------------------
    def _claim(self) -> bool:
        with self._lock:
            if self._sent >= self.max_requests:
                return False
            self._sent += 1
            return True

    def _known_user(self, rng: random.Random) -> tuple[str, str] | None:
        with self._lock:
            if not self.acked:
                return None
            name = rng.choice(sorted(self.acked))
        return name, self._person_of[name]

    def _request(self, client: httpx.Client, rng: random.Random) -> Outcome:
        op = rng.choices(list(self.mix), weights=list(self.mix.values()))[0]
        person = rng.choice(sorted(PEOPLE))
        username = ""
        if op in ("login", "identify"):  # probe someone acknowledged, so the right answer is a match
            known = self._known_user(rng)
            if known is None:
                op = "enrol"
            else:
                person = known[1]
                username = known[0] if op == "login" else ""
        start = time.monotonic()
        try:
            if op == "enrol":
                username = f"{self.prefix}-{secrets.token_hex(5)}"
                with self._lock:
                    self._person_of[username] = person
                r = client.post(
                    "/v1/users",
                    headers={"X-API-Key": self.api_key},
                    data={"username": username},
                    files=[("images", ("face.jpg", img(PEOPLE[person][0])))],
                )
            else:
                data = {"username": username} if username else {}
                r = client.post("/v1/login", data=data, files={"image": ("probe.jpg", img(PEOPLE[person][1]))})
            status = r.status_code
            code = ""
            if status >= 400:
                try:
                    code = str(r.json().get("error", ""))
                except ValueError:
                    code = "not-json"
            if op == "enrol" and status == 201:
                with self._lock:
                    self.acked[username] = int(r.json()["faces"])
        except httpx.HTTPError as exc:
            status, code = 0, type(exc).__name__
        end = time.monotonic()
        return Outcome(op=op, status=status, code=code, seconds=end - start, at=start - self._t0, username=username)

    def _client_loop(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        with httpx.Client(base_url=self.base_url, timeout=self.timeout_s) as client:
            while not self._stop.is_set() and time.monotonic() - self._t0 < self.duration_s and self._claim():
                outcome = self._request(client, rng)
                with self._lock:
                    self.outcomes.append(outcome)

    def _sample_rss(self) -> None:
        while not self._stop.wait(1.0):
            if self.server_pid is None:
                return
            with contextlib.suppress(OSError, KeyError):  # the server may be restarting
                self.rss.append((time.monotonic() - self._t0, rss_kb(self.server_pid)["VmRSS"]))

    # -- the run ----------------------------------------------------------------------------
    def run(self, during: Callable[[LoadRun], None] | None = None) -> LoadRun:
        """Run the load; `during(self)` runs in the calling thread meanwhile (e.g. kill a server)."""
        self._person_of: dict[str, str] = {}
        self._t0 = time.monotonic()
        threads = [
            threading.Thread(target=self._client_loop, args=(i,), name=f"load-{i}", daemon=True)
            for i in range(self.clients)
        ]
        sampler = threading.Thread(target=self._sample_rss, name="rss", daemon=True)
        for t in threads + [sampler]:
            t.start()
        try:
            if during is not None:
                during(self)
            for t in threads:
                t.join(timeout=self.duration_s + 2 * self.timeout_s + 30)
        finally:
            self._stop.set()
            sampler.join(timeout=5)
        assert not any(t.is_alive() for t in threads), "a load client hung beyond every timeout"
        return self

    def elapsed(self) -> float:
        return max((o.at + o.seconds for o in self.outcomes), default=0.0)

    # -- results ----------------------------------------------------------------------------
    def summary(self, *, warmup_s: float = 0.0) -> dict:
        """Counts, throughput, latency percentiles and RSS; latencies only from answered requests."""
        answered = [o for o in self.outcomes if o.status]
        statuses = Counter(str(o.status) for o in self.outcomes)
        codes = Counter(o.code for o in self.outcomes if o.code)
        by_op = {}
        for op in sorted({o.op for o in self.outcomes}):
            lat = [o.seconds for o in answered if o.op == op]
            by_op[op] = {
                "n": sum(o.op == op for o in self.outcomes),
                "p50_s": round(percentile(lat, 50), 3),
                "p99_s": round(percentile(lat, 99), 3),
            }
        lat = [o.seconds for o in answered]
        after = [kb for t, kb in self.rss if t >= warmup_s]
        elapsed = self.elapsed()
        return {
            "clients": self.clients,
            "seconds": round(elapsed, 1),
            "requests": len(self.outcomes),
            "throughput_rps": round(len(self.outcomes) / elapsed, 2) if elapsed else 0.0,
            "p50_s": round(percentile(lat, 50), 3),
            "p99_s": round(percentile(lat, 99), 3),
            "max_s": round(max(lat, default=0.0), 3),
            "statuses": dict(sorted(statuses.items())),
            "codes": dict(sorted(codes.items())),
            "by_op": by_op,
            "enrolments_acked": len(self.acked),
            "rss_mb": {
                "first": round(self.rss[0][1] / 1024, 1) if self.rss else None,
                "after_warmup": round(after[0] / 1024, 1) if after else None,
                "last": round(after[-1] / 1024, 1) if after else None,
                "max": round(max(after) / 1024, 1) if after else None,
                "samples": len(self.rss),
            },
        }


def write_report(name: str, data: dict) -> Path:
    """Write a result under test-artifacts/reliability/<name>.json (ignored by git) and return the path."""
    out = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return out


def as_dict(outcome: Outcome) -> dict:
    return asdict(outcome)
