"""Account: who is logged in, until when, recent attempts, log out, delete the account."""

from __future__ import annotations

import streamlit as st

from .. import resources, session
from ..client import RecognizerError, Unavailable
from .common import error_message, md_escape, unavailable_banner


def _logout(notice: str | None = None) -> None:
    resources.set_auth(None)
    st.session_state.pop("confirm_delete", None)
    if notice:
        st.session_state.login_notice = {"text": notice}


def _log_out(token: str) -> None:
    """Log out: revoke the token on the recognizer, then forget the session here."""
    try:
        resources.client().logout(token)
    except Unavailable:  # leave anyway: someone else may be next at this camera
        _logout(
            "You are logged out here. The recognizer could not be reached, so your session "
            "token stays valid until it expires."
        )
        return
    except RecognizerError:
        pass  # already expired or revoked: nothing left to revoke
    _logout("You are logged out.")


def render(auth: resources.Auth) -> None:
    st.header(f"Welcome, {md_escape(auth.username)}")
    client = resources.client()
    try:
        me = client.me(auth.token)
        attempts = client.attempts(auth.token)
    except RecognizerError:  # expired, or the account is gone (deleted elsewhere)
        _logout("Your session has ended. Please log in again.")
        st.rerun()
    except Unavailable:
        unavailable_banner("your session is kept; details appear when it is back")
        me, attempts = None, []
    if me is not None:
        if session.cookie_token() != auth.token:
            session.store(auth.token, me.expires_at)
            st.session_state.cookie_written = True
        left = session.seconds_left(me.expires_at)
        st.write(
            f"Logged in as **{md_escape(me.username)}**. Your session expires at "
            f"{me.expires_at} (in {left // 60} min {left % 60} s)."
        )
    st.markdown("**Your last login attempts**")
    if attempts:
        st.dataframe(
            [
                {"when": a.at, "result": a.result, "distance": None if a.distance is None else round(a.distance, 4)}
                for a in attempts[:10]
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No attempts recorded.")
    col1, col2 = st.columns(2)
    col1.button("Log out", key="logout", on_click=_log_out, args=(auth.token,))
    if col2.button("Delete my account", key="delete"):
        st.session_state.confirm_delete = True
    if st.session_state.get("confirm_delete"):
        st.warning("This deletes your account and every stored face template. It cannot be undone.")
        c1, c2 = st.columns(2)
        if c1.button("Yes, delete my account", type="primary", key="delete_confirm"):
            try:
                client.delete_me(auth.token)
            except Unavailable:
                unavailable_banner("nothing was deleted; try again")
                return
            except RecognizerError as exc:
                if exc.code == "home_unreachable":  # a replica site forwards deletions to the home
                    st.error(error_message(exc, action="Deleting your account"))
                else:
                    st.error(f"Could not delete the account: {exc.detail or exc.code}")
                return
            _logout(f"The account {md_escape(auth.username)} and its face data are deleted.")
            st.rerun()
        if c2.button("Cancel", key="delete_cancel"):
            st.session_state.pop("confirm_delete", None)
            st.rerun()
