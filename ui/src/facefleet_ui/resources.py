"""Process-wide objects (settings, HTTP client) and per-visitor state, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import streamlit as st

from . import config, forwarded
from .capture import LoginCapture, RegisterCapture
from .client import RecognizerClient, SiteCache

# Tests swap in an httpx.MockTransport here (unit tests only; end-to-end tests use the network).
TRANSPORT: httpx.BaseTransport | None = None


@dataclass(frozen=True)
class Auth:
    token: str
    username: str
    expires_at: str


def _secrets() -> dict[str, Any] | None:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml: the environment is the only source
        return None


@st.cache_resource(show_spinner=False)
def settings() -> config.Settings:
    return config.load(secrets=_secrets())


def new_client() -> RecognizerClient:
    return RecognizerClient(settings(), transport=TRANSPORT)


@st.cache_resource(show_spinner=False)
def client() -> RecognizerClient:
    return new_client()


@st.cache_resource(show_spinner=False)
def site_cache() -> SiteCache:
    """`GET /v1/site`, shared by every visitor of this process, asked at most every few seconds."""
    return SiteCache(client().site)


def login_capture() -> LoginCapture:
    if "login_capture" not in st.session_state:
        st.session_state.login_capture = LoginCapture(settings(), new_client)
    capture: LoginCapture = st.session_state.login_capture
    return capture


def register_capture() -> RegisterCapture:
    if "register_capture" not in st.session_state:
        st.session_state.register_capture = RegisterCapture(settings())
    capture: RegisterCapture = st.session_state.register_capture
    return capture


def browser_address() -> str:
    """This session's browser address (see forwarded.py), read in the script run."""
    return forwarded.client_address(
        st.context.ip_address, st.context.headers.get("X-Forwarded-For"), settings().trusted_proxies
    )


def auth() -> Auth | None:
    return st.session_state.get("auth")


def set_auth(value: Auth | None) -> None:
    st.session_state.auth = value
