"""Settings of the recognizer, read once from environment variables.

Every variable has a documented default (recognizer/README.md, "Configuration"); secrets have
none that is usable in production, and `serve` refuses to start without them so a deployment can
never silently run with a guessable key.
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

MIN_SECRET_CHARS = 16


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


def _default_threshold() -> float:
    # The calibrated value lives with the model code (faces/metric.py), the one decision rule.
    from recognizer.faces import metric

    return float(metric.DEFAULT_THRESHOLD)


def _int(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (a container's limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def _processes(env: dict[str, str], name: str) -> int:
    """Face worker processes: "auto" (the default) is one per usable CPU when there are two or more,
    else 0 (the pipeline in the server process: one CPU gains nothing from a worker)."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "auto"):
        cpus = usable_cpus()
        return cpus if cpus >= 2 else 0
    return _int(env, name, 0, minimum=0)


def _networks(env: dict[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks; a typo stops start-up instead of being ignored."""
    out = []
    for item in filter(None, (part.strip() for part in env.get(name, "").split(","))):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError as exc:
            raise ConfigError(f"{name} must list IP addresses or CIDR networks, got {item!r}") from exc
    return tuple(out)


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment (see from_env for the variable names)."""

    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = ""  # empty: the database named in MONGO_URL, else "facefleet"
    # Given to the driver apart from MONGO_URL, so a password may hold any character (@ : / " \ ...);
    # empty: whatever credentials MONGO_URL itself carries.
    db_username: str = ""
    db_password: str = ""
    api_key: str = ""
    token_secret: str = ""
    token_ttl_s: int = 3600
    embedding_key: str = ""
    embedding_key_previous: str = ""  # decrypt-only, during a key rotation (`python -m recognizer rekey`)
    threshold: float = field(default_factory=_default_threshold)
    detector: str = ""  # empty: the face pipeline's own default
    min_face_px: int = 48
    max_image_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 25_000_000
    max_images: int = 10
    lockout_failures: int = 5
    lockout_window_s: int = 300
    lockout_s: int = 300
    identify_rate_failures: int = 20
    identify_rate_window_s: int = 60
    audit_retention_s: int = 30 * 24 * 3600
    db_timeout_ms: int = 2500
    index_refresh_s: float = 2.0
    index_full_reload_s: float = 600.0
    model_threads: int = 2
    model_processes: int = 0  # from_env's default is "auto" (see _processes)
    # Peers whose X-Forwarded-For names the client (the per-client 1:N limit, the log); none by default.
    trusted_proxies: tuple[str, ...] = ()
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        db_timeout_ms = _int(e, "FACEFLEET_DB_TIMEOUT_MS", cls.db_timeout_ms, minimum=100)
        if db_timeout_ms > 3000:
            raise ConfigError("FACEFLEET_DB_TIMEOUT_MS must be <= 3000 so an outage answers 503 quickly")
        db_username, db_password = e.get("FACEFLEET_DB_USERNAME", "").strip(), e.get("FACEFLEET_DB_PASSWORD", "")
        if db_password and not db_username:
            raise ConfigError("FACEFLEET_DB_PASSWORD is set without FACEFLEET_DB_USERNAME")
        return cls(
            mongo_url=e.get("MONGO_URL", "").strip() or cls.mongo_url,
            db_username=db_username,
            db_password=db_password,
            mongo_db=e.get("FACEFLEET_MONGO_DB", "").strip() or cls.mongo_db,
            api_key=e.get("FACEFLEET_API_KEY", ""),
            token_secret=e.get("FACEFLEET_TOKEN_SECRET", ""),
            token_ttl_s=_int(e, "FACEFLEET_TOKEN_TTL_S", cls.token_ttl_s, minimum=1),
            embedding_key=e.get("FACEFLEET_EMBEDDING_KEY", ""),
            embedding_key_previous=e.get("FACEFLEET_EMBEDDING_KEY_PREVIOUS", ""),
            threshold=_float(e, "FACEFLEET_THRESHOLD", _default_threshold()),
            detector=e.get("FACEFLEET_DETECTOR", "").strip(),
            min_face_px=_int(e, "FACEFLEET_MIN_FACE_PX", cls.min_face_px, minimum=1),
            max_image_bytes=_int(e, "FACEFLEET_MAX_IMAGE_BYTES", cls.max_image_bytes, minimum=1024),
            max_pixels=_int(e, "FACEFLEET_MAX_PIXELS", cls.max_pixels, minimum=10_000),
            max_images=_int(e, "FACEFLEET_MAX_IMAGES", cls.max_images, minimum=1),
            lockout_failures=_int(e, "FACEFLEET_LOCKOUT_FAILURES", cls.lockout_failures, minimum=1),
            lockout_window_s=_int(e, "FACEFLEET_LOCKOUT_WINDOW_S", cls.lockout_window_s, minimum=1),
            lockout_s=_int(e, "FACEFLEET_LOCKOUT_S", cls.lockout_s, minimum=1),
            identify_rate_failures=_int(e, "FACEFLEET_IDENTIFY_RATE_FAILURES", cls.identify_rate_failures),
            identify_rate_window_s=_int(e, "FACEFLEET_IDENTIFY_RATE_WINDOW_S", cls.identify_rate_window_s,
                                        minimum=1),
            audit_retention_s=_int(e, "FACEFLEET_AUDIT_RETENTION_S", cls.audit_retention_s, minimum=60),
            db_timeout_ms=db_timeout_ms,
            index_refresh_s=_float(e, "FACEFLEET_INDEX_REFRESH_S", cls.index_refresh_s),
            index_full_reload_s=_float(e, "FACEFLEET_INDEX_FULL_RELOAD_S", cls.index_full_reload_s),
            model_threads=_int(e, "FACEFLEET_MODEL_THREADS", cls.model_threads, minimum=1),
            model_processes=_processes(e, "FACEFLEET_MODEL_PROCESSES"),
            trusted_proxies=_networks(e, "FACEFLEET_TRUSTED_PROXIES"),
            log_level=(e.get("FACEFLEET_LOG_LEVEL", "").strip() or cls.log_level).upper(),
        )

    def check_secrets(self) -> None:
        """Refuse to serve without the three secrets (each at least 16 characters)."""
        for name, value in (
            ("FACEFLEET_API_KEY", self.api_key),
            ("FACEFLEET_TOKEN_SECRET", self.token_secret),
            ("FACEFLEET_EMBEDDING_KEY", self.embedding_key),
        ):
            if len(value) < MIN_SECRET_CHARS:
                raise ConfigError(
                    f"{name} must be set to at least {MIN_SECRET_CHARS} characters "
                    "(`make run` generates one into .secrets/; in a cluster it comes from the "
                    "Secret facefleet-recognizer)"
                )
        if self.embedding_key_previous and len(self.embedding_key_previous) < MIN_SECRET_CHARS:
            raise ConfigError(f"FACEFLEET_EMBEDDING_KEY_PREVIOUS, when set, must have at least {MIN_SECRET_CHARS} "
                              "characters (it is the key that encrypted the stored embeddings before a rotation)")

    @property
    def request_body_limit(self) -> int:
        """Largest multipart body accepted: max_images images plus room for the form fields."""
        return self.max_images * self.max_image_bytes + 64 * 1024
