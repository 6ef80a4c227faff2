"""Settings of the recognizer: every environment variable declared once, with its default and meaning.

`Settings` is the one declaration: pydantic-settings reads `FACEFLEET_*` (plus the contract's
unprefixed `MONGO_URL`), validates each value and resolves the derived ones (`auto` worker
processes, the upper-cased log level). recognizer/README.md's settings table is generated from
these fields (`python -m recognizer.settings_table`, checked by tests/recognizer/test_config.py).
Secrets have no usable default, and `serve` refuses to start without them, so a deployment can
never silently run with a guessable key.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, IPvAnyNetwork, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from recognizer import defaults
from recognizer.faces.metric import DEFAULT_THRESHOLD

ENV_PREFIX = "FACEFLEET_"
MIN_SECRET_CHARS = defaults.MIN_SECRET_CHARS
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SECRET_SOURCE = "(`make run` generates one into .secrets/; in a cluster it comes from the Secret facefleet-recognizer)"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


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


def _setting(
    default: Any, description: str, *, shown: str | None = None, env: str | None = None, **constraints: Any
) -> Any:
    """A field with its README row: `shown` replaces the rendered default where a value alone would mislead."""
    extra: dict[str, Any] = {"shown_default": shown} if shown is not None else {}
    alias = AliasChoices(env) if env else None
    return Field(
        default, description=description, validation_alias=alias, json_schema_extra=extra or None, **constraints
    )


#: the mapping `from_env(env)` reads instead of os.environ, for the duration of that call (thread-safe).
_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("recognizer_settings_environment", default=None)


class _GivenEnvironment(EnvSettingsSource):
    """The environment source over a given mapping instead of os.environ (`Settings.from_env(env)`)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class Settings(BaseSettings):
    """Everything the service reads from its environment.

    `Settings.from_env()` is the way in (errors become ConfigError); `Settings(field=...)` also reads
    os.environ, with the given fields on top (tests).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore", validate_default=True
    )

    mongo_url: str = _setting(
        "mongodb://127.0.0.1:27017/",
        env="MONGO_URL",
        description="MongoDB wire-protocol URL; in clusters without credentials (they come from the next two)",
    )
    db_username: str = _setting(
        "",
        shown="empty: the credentials in `MONGO_URL`, if any",
        description="database user, given to the driver apart from the URL (the charts take it from the Secret "
        "`facefleet-database`)",
    )
    db_password: str = _setting(
        "", description="that user's password: any characters, no URL escaping; needs `FACEFLEET_DB_USERNAME`"
    )
    mongo_db: str = _setting(
        "", shown="the database in `MONGO_URL`'s path, else `facefleet`", description="database name"
    )
    api_key: str = _setting(
        "",
        shown=f"— (required, ≥ {MIN_SECRET_CHARS} chars)",
        description="API key for the user-management routes, header `X-API-Key`",
    )
    token_secret: str = _setting(
        "",
        shown=f"— (required, ≥ {MIN_SECRET_CHARS} chars)",
        description="secret the HS256 login tokens are signed with (HMAC key derived from it); same on every replica",
    )
    token_ttl_s: int = _setting(3600, "token lifetime in seconds", ge=1)
    embedding_key: str = _setting(
        "",
        shown=f"— (required, ≥ {MIN_SECRET_CHARS} chars)",
        description="secret the AES-256-GCM key for embeddings at rest is derived from (HKDF-SHA256); losing it "
        "loses every enrolment",
    )
    embedding_key_previous: str = _setting(
        "",
        description="during a key rotation only: the key the stored embeddings were encrypted with before; blobs "
        "that the current key does not open are read with it, writes always use the current key, and "
        '`python -m recognizer rekey` re-encrypts the rest (clusters/README.md, "Rotating without '
        'downtime")',
    )
    threshold: float = _setting(
        DEFAULT_THRESHOLD,
        shown=f"`{DEFAULT_THRESHOLD}` (`faces.metric.DEFAULT_THRESHOLD`, calibrated)",
        description="match when Euclidean distance ≤ threshold (login, identify, compare, CLI)",
    )
    detector: str = _setting(
        defaults.DETECTOR, description="face detector: " + ", ".join(f"`{d}`" for d in defaults.DETECTORS)
    )
    engine: str = _setting(
        defaults.ENGINE,
        description="forward-pass engine, both computing dlib's descriptors (equal within 1e-4, so "
        "stored embeddings stay valid): `onnx` (dlib's ResNet rebuilt as an ONNX graph, run by onnxruntime) or "
        "`dlib` (dlib's own, the reference)",
    )
    min_face_px: int = _setting(defaults.MIN_FACE_PX, "`face_too_small` below this shorter box side", ge=1)
    max_image_bytes: int = _setting(
        defaults.MAX_IMAGE_BYTES,
        shown=f"`{defaults.MAX_IMAGE_BYTES}` (10 MiB)",
        description="per image; larger → 413 `image_too_large`",
        ge=1024,
    )
    max_pixels: int = _setting(
        defaults.MAX_PIXELS, "per image, decided from the header before decoding → 413", ge=10_000
    )
    max_images: int = _setting(10, "images per enrolment / add-faces request", ge=1)
    lockout_failures: int = _setting(5, "failed logins for one username ...", ge=1)
    lockout_window_s: int = _setting(300, "... within this window lock it ...", ge=1)
    lockout_s: int = _setting(300, "... for this long (429 `locked_out` + `Retry-After`)", ge=1)
    identify_rate_failures: int = _setting(
        20,
        "failed 1:N identifies (no username) per client address within the window below; more → 429 "
        "`locked_out` + `Retry-After` until the oldest leaves the window; per replica, in memory; `0` disables. "
        "The ui is one client: size it for the ui's traffic",
        ge=0,
    )
    identify_rate_window_s: int = _setting(60, "sliding window of that limit", ge=1)
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = _setting(
        (),
        shown="empty",
        description="comma-separated IP addresses or CIDR networks (e.g. `10.42.0.0/16`) whose `X-Forwarded-For` "
        "header names the client, for the per-client limit above; from any other peer the header is "
        "ignored. Empty: trust no one (uvicorn's own default would trust 127.0.0.1, which let a local "
        "caller invent a new address per request). A network is written without host bits (`10.42.0.0/16`, "
        "not `10.42.0.5/16`)",
    )
    audit_retention_s: int = _setting(
        defaults.AUDIT_RETENTION_S,
        shown=f"`{defaults.AUDIT_RETENTION_S}` (30 days)",
        description="login attempts are deleted after this",
        ge=60,
    )
    db_timeout_ms: int = _setting(
        defaults.DB_TIMEOUT_MS,
        shown=f"`{defaults.DB_TIMEOUT_MS}` (max {defaults.MAX_DB_TIMEOUT_MS})",
        description="server selection, connect and socket timeouts: an outage answers 503 within ~3 s",
        ge=100,
        le=defaults.MAX_DB_TIMEOUT_MS,
    )
    index_refresh_s: float = _setting(
        defaults.INDEX_REFRESH_S,
        "how often each replica checks the change counter to pick up other replicas' changes",
        gt=0,
    )
    index_full_reload_s: float = _setting(
        defaults.INDEX_FULL_RELOAD_S,
        "a full reload of the index whatever the counter says: bounds how long a change whose counter bump was "
        "lost (a crash between the two writes) can go unseen by other replicas",
        ge=0,
    )
    model_threads: int = _setting(2, "face-pipeline calls running at once (the rest queue)", ge=1)
    model_processes: int = _setting(
        "auto",
        shown="`auto`",
        description="`N`: the face pipeline runs in N worker processes, so N logins are embedded at once on N cores "
        "(dlib's detector and landmarks hold the GIL, so threads cannot); `0`: in the server process. "
        "`auto`: one per usable CPU (affinity mask, capped by the container's cgroup CPU limit) when "
        "there are two or more, else 0. Each worker loads its own copy of the model (its memory: "
        '"Model, detector and accuracy" below)',
        ge=0,
    )
    site: str = _setting(
        "local",
        description="this site's name (a DNS label), shown by the ui and, at the home, the name a replica's "
        "credential is issued for",
    )
    home_url: str = _setting(
        "",
        shown="empty: this recognizer is the home of users (or a single site)",
        description="set on a replica: the home's URL (e.g. `https://home.example.com`); users are pulled from "
        "there, and enrolments, added faces and deletions are forwarded there (in clusters from the Secret "
        "`facefleet-sync`, key `home-url`)",
    )
    sync_credential: str = _setting(
        "",
        shown="— (required on a replica)",
        description="the replica's site credential `ffs1.<site>.<secret>`, issued by the home's "
        "`PUT /v1/sync/sites/{site}` (Secret `facefleet-sync`, key `credential`)",
    )
    home_ca_file: str = _setting(
        "", shown="empty: the system's CA bundle", description="CA bundle a replica verifies the home's TLS with"
    )
    sync_interval_s: float = _setting(
        defaults.SYNC_INTERVAL_S,
        "a replica asks the home for changes this often (one small request when nothing changed)",
        gt=0,
    )
    sync_wait_s: float = _setting(
        5.0, "after a forwarded write, a replica waits at most this long to pull that change before answering", ge=0
    )
    sync_copy_beyond: int = _setting(
        defaults.SYNC_COPY_BEYOND,
        "a replica further behind the home than this many changes makes a full copy instead of replaying them "
        '(faster on FerretDB: bench/README.md, "Fleet-wide users")',
        ge=0,
    )
    replica_max_staleness_s: int = _setting(
        defaults.REPLICA_MAX_STALENESS_S,
        shown=f"`{defaults.REPLICA_MAX_STALENESS_S}` (24 h)",
        description="a replica that has not synced for this long answers logins 503 `replica_stale` "
        '(README, "Staleness bound")',
        ge=1,
    )
    sync_retention_s: int = _setting(
        defaults.SYNC_RETENTION_S,
        shown=f"`{defaults.SYNC_RETENTION_S}` (30 days)",
        description="at the home: changes older than this are trimmed; a replica whose cursor is older makes a "
        "full copy",
        ge=60,
    )
    log_level: str = _setting("INFO", "log level")

    @field_validator("model_processes", mode="before")
    @classmethod
    def _resolve_processes(cls, value: object) -> object:
        """`auto`: one worker per usable CPU when there are two or more, else 0 (one CPU gains nothing)."""
        if isinstance(value, str) and value.strip().lower() in ("", "auto"):
            cpus = usable_cpus()
            return cpus if cpus >= 2 else 0
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        """The variable is a comma-separated list; each item is then an IPvAnyNetwork."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("mongo_url", "mongo_db", "db_username", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> object:
        """Upper-cased, and one of the logging module's level names (a typo stops start-up)."""
        if not isinstance(value, str):
            return value
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"must be a logging level name ({', '.join(LOG_LEVELS)})")
        return level

    @field_validator("engine", mode="before")
    @classmethod
    def _known_engine(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() not in defaults.ENGINES:
            raise ValueError(f"must be one of {', '.join(defaults.ENGINES)}")
        return value.strip() if isinstance(value, str) else value

    @field_validator("detector", mode="before")
    @classmethod
    def _known_detector(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() not in defaults.DETECTORS:
            raise ValueError(f"must be one of {', '.join(defaults.DETECTORS)}")
        return value.strip() if isinstance(value, str) else value

    @field_validator("site", mode="before")
    @classmethod
    def _site_label(cls, value: object) -> object:
        if isinstance(value, str) and not re.fullmatch(defaults.SITE_PATTERN, value.strip()):
            raise ValueError("must be a DNS label: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'")
        return value.strip() if isinstance(value, str) else value

    @field_validator("home_url", mode="before")
    @classmethod
    def _home_url(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() and not re.match(r"https?://[^/\s]+", value.strip()):
            raise ValueError("must be an http:// or https:// URL")
        return value.strip().rstrip("/") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _replica_needs_credential(self) -> Settings:
        if self.home_url and not self.sync_credential.startswith(f"ffs1.{self.site}."):
            raise ValueError(
                "FACEFLEET_HOME_URL is set, so FACEFLEET_SYNC_CREDENTIAL must hold this site's credential "
                f"(ffs1.{self.site}.…, issued by the home's PUT /v1/sync/sites/{self.site}); check FACEFLEET_SITE too"
            )
        return self

    @property
    def is_replica(self) -> bool:
        return bool(self.home_url)

    @model_validator(mode="after")
    def _password_needs_user(self) -> Settings:
        if self.db_password and not self.db_username:
            raise ValueError("FACEFLEET_DB_PASSWORD is set without FACEFLEET_DB_USERNAME")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = _ENVIRONMENT.get()
        return init_settings, env_settings if given is None else _GivenEnvironment(settings_cls, given)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from `env` (default: os.environ); a bad value raises ConfigError naming its variable."""
        token = _ENVIRONMENT.set(dict(os.environ if env is None else env))
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError("; ".join(_explain(err) for err in exc.errors())) from None
        finally:
            _ENVIRONMENT.reset(token)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable of a field: its alias (MONGO_URL) or FACEFLEET_ + its name."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, AliasChoices):
            return str(alias.choices[0])
        return ENV_PREFIX + field.upper()

    def check_secrets(self) -> None:
        """Refuse to serve without the three secrets (each at least MIN_SECRET_CHARS characters)."""
        for field in ("api_key", "token_secret", "embedding_key"):
            if len(getattr(self, field)) < MIN_SECRET_CHARS:
                raise ConfigError(
                    f"{self.env_name(field)} must be set to at least {MIN_SECRET_CHARS} characters " + SECRET_SOURCE
                )
        if self.embedding_key_previous and len(self.embedding_key_previous) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"FACEFLEET_EMBEDDING_KEY_PREVIOUS, when set, must have at least {MIN_SECRET_CHARS} "
                "characters (it is the key that encrypted the stored embeddings before a rotation)"
            )

    @property
    def request_body_limit(self) -> int:
        """Largest multipart body accepted: max_images images plus room for the form fields."""
        return self.max_images * self.max_image_bytes + defaults.FORM_SLACK_BYTES


_REASONS = {
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
}


def _explain(err: Mapping[str, Any]) -> str:
    """One pydantic error as a sentence that names the environment variable."""
    loc = [str(part) for part in err.get("loc", ())]
    if not loc or loc[0] not in Settings.model_fields:
        return str(err.get("msg", "invalid setting")).removeprefix("Value error, ")
    name = Settings.env_name(loc[0])
    ctx = err.get("ctx") or {}
    kind = err.get("type", "")
    if kind == "greater_than_equal":
        reason = f"must be >= {ctx.get('ge')}"
    elif kind == "greater_than":
        reason = f"must be > {ctx.get('gt')}"
    elif kind == "less_than_equal":
        reason = f"must be <= {ctx.get('le')}"
        if loc[0] == "db_timeout_ms":
            reason += " so an outage answers 503 quickly"
    elif kind.startswith("ip_any_network") or loc[0] == "trusted_proxies":
        reason = "must list IP addresses or CIDR networks"
    elif kind == "value_error":
        reason = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    else:
        reason = _REASONS.get(kind, str(err.get("msg", "is invalid")))
    return f"{name} {reason}, got {err.get('input')!r}"
