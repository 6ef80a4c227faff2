"""Settings of the ui: every one declared once, here, with its default and what it means.

pydantic-settings reads them from the environment (names below); ui/README.md's table is
generated from this declaration (`python -m facefleet_ui.config`, checked by a test), so `make run`
needs none of them. The API key is looked up in the environment first, then in Streamlit secrets,
and is never rendered in the page or in a repr.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigError(ValueError):
    """A setting is present but malformed (e.g. FACEFLEET_ICE_SERVERS is not a JSON list)."""


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def parse_ice_servers(raw: str | None) -> list[dict[str, Any]]:
    """FACEFLEET_ICE_SERVERS: a JSON list of RTCIceServer objects; empty or unset means none.

    An empty list matters: streamlit-webrtc falls back to a public STUN server (or to TURN
    credential services) when it gets no list at all, which an offline edge node cannot reach.
    """
    if raw is None or not raw.strip():
        return []
    try:
        servers = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"FACEFLEET_ICE_SERVERS is not valid JSON: {exc}") from exc
    if not isinstance(servers, list) or not all(isinstance(s, dict) and "urls" in s for s in servers):
        raise ConfigError('FACEFLEET_ICE_SERVERS must be a JSON list of {"urls": ...} objects')
    return servers


def _comma_list(raw: object) -> object:
    if isinstance(raw, str):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


class Settings(BaseSettings):
    """The ui's settings (environment names in `validation_alias`; field names in code)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True, case_sensitive=True)

    recognizer_url: str = Field(
        "http://127.0.0.1:8000", validation_alias=_env("RECOGNIZER_URL"), description="the recognizer's base URL"
    )
    api_key: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("FACEFLEET_API_KEY"),
        description="sent as `X-API-Key` for registration (also read from Streamlit "
        "secrets); never shown; without it, registration is off",
    )
    ice_servers: Annotated[list[dict[str, Any]], NoDecode] = Field(
        default_factory=list,
        repr=False,
        validation_alias=_env("FACEFLEET_ICE_SERVERS"),
        description='static JSON list of RTCIceServer objects, e.g. `[{"urls": ["stun:stun.example:3478"]}]`; '
        "empty means none (never a public STUN server); TURN with a fixed password does not belong here",
    )
    turn_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validation_alias=_env("FACEFLEET_TURN_URLS"),
        description="comma-separated `turn:`/`turns:` URLs of coturn; with `FACEFLEET_TURN_SECRET`, each page "
        "session gets its own short-lived credential for them",
    )
    turn_secret: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("FACEFLEET_TURN_SECRET"),
        description="coturn's `static-auth-secret` (Secret `facefleet-turn`, key "
        "`auth-secret`); never sent to a browser",
    )
    turn_ttl_s: int = Field(
        600,
        ge=60,
        le=86400,
        validation_alias=_env("FACEFLEET_TURN_TTL_S"),
        description="lifetime of a minted TURN credential (60 to 86400 s); renewed once half "
        "of it is gone while the camera is off",
    )
    webrtc_loopback: bool = Field(
        False,
        validation_alias=_env("FACEFLEET_WEBRTC_LOOPBACK"),
        description="`1`: offer only 127.0.0.1 ICE candidates (tests in a network namespace with only `lo`)",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validation_alias=_env("FACEFLEET_TRUSTED_PROXIES"),
        description="comma-separated addresses or CIDR networks (the ingress) whose `X-Forwarded-For` names the "
        "browser; the ui passes the browser's address on to the recognizer for its per-client 1:N limit",
    )
    host: str = Field(
        "127.0.0.1",
        validation_alias=_env("FACEFLEET_UI_HOST", "STREAMLIT_SERVER_ADDRESS"),
        description="listen address (the image sets `0.0.0.0`)",
    )
    port: int = Field(
        8501,
        ge=1,
        le=65535,
        validation_alias=_env("FACEFLEET_UI_PORT", "STREAMLIT_SERVER_PORT"),
        description="listen port",
    )
    base_url_path: str = Field(
        "",
        validation_alias=_env("STREAMLIT_SERVER_BASE_URL_PATH"),
        description="path prefix behind an ingress (Streamlit's own `server.baseUrlPath`; "
        "the session cookie's path follows it)",
    )
    log_level: str = Field(
        "INFO", validation_alias=_env("FACEFLEET_UI_LOG_LEVEL"), description="log level of the ui's own logger"
    )
    min_face_px: int = Field(
        64,
        ge=1,
        validation_alias=_env("FACEFLEET_UI_MIN_FACE_PX"),
        description="shorter side of the face box before a frame is sent (at least the recognizer's own minimum)",
    )
    min_sharpness: float = Field(
        25.0,
        ge=0,
        validation_alias=_env("FACEFLEET_UI_MIN_SHARPNESS"),
        description="variance of the Laplacian over the face at 128x128",
    )
    retry_after_failure_s: float = Field(
        3.0,
        ge=0,
        validation_alias=_env("FACEFLEET_UI_RETRY_S"),
        description="pause after a rejected attempt (longer when the recognizer sends `Retry-After`)",
    )
    register_frames: int = Field(
        3, ge=1, validation_alias=_env("FACEFLEET_UI_REGISTER_FRAMES"), description="usable frames per enrolment"
    )
    register_interval_s: float = Field(
        0.5,
        ge=0,
        validation_alias=_env("FACEFLEET_UI_REGISTER_INTERVAL_S"),
        description="least spacing of the enrolment frames",
    )
    connect_timeout_s: float = Field(
        2.0, gt=0, validation_alias=_env("FACEFLEET_UI_CONNECT_TIMEOUT_S"), description="recognizer connect timeout"
    )
    request_timeout_s: float = Field(
        10.0, gt=0, validation_alias=_env("FACEFLEET_UI_TIMEOUT_S"), description="recognizer request timeout"
    )
    webrtc_race_fix: bool = Field(
        True,
        validation_alias=_env("FACEFLEET_UI_WEBRTC_RACE_FIX"),
        description="`0` disables the streamlit-webrtc race fix (benchmark baseline only)",
    )

    @field_validator("recognizer_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("api_key", "turn_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("ice_servers", mode="before")
    @classmethod
    def _ice_servers(cls, value: object) -> object:
        return parse_ice_servers(value) if isinstance(value, str) else value

    @field_validator("turn_urls", mode="before")
    @classmethod
    def _turn_urls(cls, value: object) -> object:
        urls = _comma_list(value)
        if isinstance(urls, tuple) and not all(u.startswith(("turn:", "turns:")) for u in urls):
            raise ValueError(f"must be turn: or turns: URLs, got {urls}")
        return urls

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        items = _comma_list(value)
        if not isinstance(items, tuple):
            return items
        try:
            return tuple(str(ipaddress.ip_network(item, strict=False)) for item in items)
        except ValueError as exc:
            raise ValueError(f"must list IP addresses or CIDR networks, got {value!r}") from exc

    @model_validator(mode="after")
    def _turn_needs_both(self) -> Settings:
        if bool(self.turn_urls) != bool(self.turn_secret):
            raise ValueError("FACEFLEET_TURN_URLS and FACEFLEET_TURN_SECRET go together (TURN needs both)")
        return self


def _env_name(loc: str) -> str:
    """The environment name of an error location (a field name or already an alias)."""
    field = Settings.model_fields.get(loc)
    alias = field.validation_alias if field else None
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else loc


def load(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> Settings:
    """Settings from `env` (default: the process environment) and Streamlit `secrets` (optional)."""
    try:
        settings = Settings() if env is None else Settings.model_validate(dict(env))
    except ValidationError as exc:
        problems = "; ".join(
            f"{_env_name(str(err['loc'][0])) if err['loc'] else 'settings'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(problems) from None
    if settings.api_key is None and secrets is not None:
        try:
            api_key = secrets.get("FACEFLEET_API_KEY") or secrets.get("api_key") or None
        except Exception:  # st.secrets raises when no secrets file exists
            api_key = None
        if api_key:
            settings = settings.model_copy(update={"api_key": api_key})
    return settings


def markdown_table() -> str:
    """ui/README.md's settings table, from the declaration above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        names = ", ".join(f"`{n}`" for n in alias.choices)
        default = field.get_default(call_default_factory=True)
        literal = json.dumps(default) if isinstance(default, bool) else default
        shown = "none" if default in (None, (), [], "") else f"`{literal}`"
        rows.append(f"| {names} | {shown} | {field.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
