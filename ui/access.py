"""Who is using the app when storage is on: Streamlit's OpenID Connect sign-in (`st.login`, `[auth]` in
secrets.toml), the user's clinic from a claim (or a configured mapping) and whether they are an administrator.
Without storage nobody signs in and nothing is kept, as before."""
from __future__ import annotations

import json
import os

import streamlit as st

from core.config import storage_url

CLINIC_CLAIM = "HEAR_SCREENING_CLINIC_CLAIM"  # the ID-token claim naming the user's clinic (default "clinic")
CLINIC_MAP = "HEAR_SCREENING_CLINIC_MAP"  # or a JSON object: user e-mail or its @domain -> clinic
ADMIN_CLAIM = "HEAR_SCREENING_ADMIN_CLAIM"  # the claim listing roles (default "roles"); "admin" in it = administrator


def storage_on() -> bool:
    return storage_url() is not None


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 (no secrets file at all: not configured)
        return False


def _claims() -> dict:
    try:
        return dict(st.user.to_dict()) if st.user.is_logged_in else {}
    except Exception:  # noqa: BLE001 (a Streamlit without st.user: nobody is signed in)
        return {}


def clinic_of(claims: dict) -> str | None:
    """The user's clinic: the configured claim (a string, or the first of a list), else the mapping."""
    value = claims.get(os.environ.get(CLINIC_CLAIM, "clinic"))
    if isinstance(value, list):
        value = value[0] if value else None
    if value:
        return str(value)[:64]
    raw = os.environ.get(CLINIC_MAP, "")
    if raw:
        try:
            mapping = json.loads(raw)
        except json.JSONDecodeError:
            return None
        email = str(claims.get("email", ""))
        return mapping.get(email) or mapping.get("@" + email.split("@")[-1]) if email else None
    return None


def actor():
    """The signed-in user as an `Actor`, or None (storage off, sign-in not configured, not signed in, no clinic)."""
    from core.storage.store import Actor

    if not storage_on() or not auth_configured():
        return None
    claims = _claims()
    if not claims:
        return None
    clinic = clinic_of(claims)
    if not clinic:
        return None
    roles = claims.get(os.environ.get(ADMIN_CLAIM, "roles")) or []
    roles = roles if isinstance(roles, list) else str(roles).split()
    user = str(claims.get("email") or claims.get("sub"))[:128]
    return Actor(user, clinic, "admin" in roles)


def account_panel() -> None:
    """The sidebar's account line when storage is on: sign in, or who is signed in for which clinic, and sign out."""
    if not storage_on():
        return
    if not auth_configured():
        st.warning("Saving is enabled but sign-in is not configured ([auth] in secrets.toml): nothing can be saved.")
        return
    claims = _claims()
    if not claims:
        st.button("Sign in to save and see saved visits", on_click=st.login, key="sign_in", width="stretch")
        return
    a = actor()
    who = claims.get("email") or claims.get("sub")
    if a is None:
        st.warning(f"Signed in as {who}, but your account names no clinic: ask the administrator.")
    else:
        st.caption(f"Signed in as {who} · {a.clinic}" + (" · administrator" if a.admin else ""))
    st.button("Sign out", on_click=st.logout, key="sign_out")


@st.cache_resource(show_spinner=False)
def _store(url: str, keep: bool):
    from core.storage.store import Store

    return Store(url, keep_audio=keep)


def store():
    """The deployment's store (opened and migrated once per server), or raises StorageError with why."""
    from core.config import keep_audio

    return _store(storage_url(), keep_audio())
