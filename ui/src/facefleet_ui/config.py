"""Settings of the ui, read from the environment once per process.

Every knob has a documented default (see ui/README.md) so `make run` needs none of them.
The API key is looked up in the environment first, then in Streamlit secrets, and is never
rendered in the page.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping


class ConfigError(ValueError):
    """A setting is present but malformed (e.g. FACEFLEET_ICE_SERVERS is not a JSON list)."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_float(env, name, default))


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


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
    if not isinstance(servers, list) or not all(
        isinstance(s, dict) and "urls" in s for s in servers
    ):
        raise ConfigError('FACEFLEET_ICE_SERVERS must be a JSON list of {"urls": ...} objects')
    return servers


def parse_networks(raw: str | None) -> tuple[str, ...]:
    """FACEFLEET_TRUSTED_PROXIES: comma-separated addresses or CIDR networks; a typo stops start-up."""
    import ipaddress

    out = []
    for item in filter(None, (part.strip() for part in (raw or "").split(","))):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError as exc:
            raise ConfigError(f"FACEFLEET_TRUSTED_PROXIES must list IP addresses or CIDR networks, got {item!r}") from exc
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    recognizer_url: str = "http://127.0.0.1:8000"
    api_key: str | None = field(default=None, repr=False)
    ice_servers: list[dict[str, Any]] = field(default_factory=list, repr=False)
    webrtc_loopback: bool = False
    connect_timeout_s: float = 2.0
    request_timeout_s: float = 10.0
    min_face_px: int = 64
    min_sharpness: float = 25.0
    register_frames: int = 3
    register_interval_s: float = 0.5
    retry_after_failure_s: float = 3.0
    webrtc_race_fix: bool = True
    # Peers (the ingress) whose X-Forwarded-For names the browser; none by default.
    trusted_proxies: tuple[str, ...] = ()
    # TURN with short-lived credentials minted per session (turn.py); off without a secret.
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = field(default=None, repr=False)
    turn_ttl_s: int = 600


def load(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from `env` (default os.environ) and Streamlit `secrets` (optional)."""
    env = os.environ if env is None else env
    api_key = env.get("FACEFLEET_API_KEY") or None
    if api_key is None and secrets is not None:
        try:
            api_key = secrets.get("FACEFLEET_API_KEY") or secrets.get("api_key") or None
        except Exception:  # st.secrets raises when no secrets file exists
            api_key = None
    return Settings(
        recognizer_url=(env.get("RECOGNIZER_URL") or Settings.recognizer_url).rstrip("/"),
        api_key=api_key,
        ice_servers=parse_ice_servers(env.get("FACEFLEET_ICE_SERVERS")),
        webrtc_loopback=_flag(env, "FACEFLEET_WEBRTC_LOOPBACK"),
        connect_timeout_s=_float(env, "FACEFLEET_UI_CONNECT_TIMEOUT_S", Settings.connect_timeout_s),
        request_timeout_s=_float(env, "FACEFLEET_UI_TIMEOUT_S", Settings.request_timeout_s),
        min_face_px=_int(env, "FACEFLEET_UI_MIN_FACE_PX", Settings.min_face_px),
        min_sharpness=_float(env, "FACEFLEET_UI_MIN_SHARPNESS", Settings.min_sharpness),
        register_frames=max(1, _int(env, "FACEFLEET_UI_REGISTER_FRAMES", Settings.register_frames)),
        register_interval_s=_float(env, "FACEFLEET_UI_REGISTER_INTERVAL_S", Settings.register_interval_s),
        retry_after_failure_s=_float(env, "FACEFLEET_UI_RETRY_S", Settings.retry_after_failure_s),
        webrtc_race_fix=env.get("FACEFLEET_UI_WEBRTC_RACE_FIX", "1").strip() != "0",
        trusted_proxies=parse_networks(env.get("FACEFLEET_TRUSTED_PROXIES")),
        **_turn(env),
    )


def _turn(env: Mapping[str, str]) -> dict[str, Any]:
    urls = tuple(u.strip() for u in env.get("FACEFLEET_TURN_URLS", "").split(",") if u.strip())
    secret = env.get("FACEFLEET_TURN_SECRET") or None
    ttl = _int(env, "FACEFLEET_TURN_TTL_S", Settings.turn_ttl_s)
    if bool(urls) != bool(secret):
        raise ConfigError("FACEFLEET_TURN_URLS and FACEFLEET_TURN_SECRET go together (TURN needs both)")
    if not all(u.startswith(("turn:", "turns:")) for u in urls):
        raise ConfigError(f"FACEFLEET_TURN_URLS must be turn: or turns: URLs, got {urls}")
    if not 60 <= ttl <= 86400:
        raise ConfigError(f"FACEFLEET_TURN_TTL_S must be between 60 and 86400, got {ttl}")
    return {"turn_urls": urls, "turn_secret": secret, "turn_ttl_s": ttl}
