"""`make run-sites`: the edge site beside `make run`'s home (tools/devstack.py runs both).

The edge site `edge-1` is a replica of the home's users (recognizer/README.md, "Fleet-wide
users"): its own FerretDB (always FerretDB, as on an edge node; data under .data/edge/), a
recognizer on 127.0.0.1:8100 that syncs from the home on :8000, and a ui on :8601 talking to it.

What this module decides:
- which settings are the site's own: FACEFLEET_SITE, FACEFLEET_HOME_URL, FACEFLEET_SYNC_CREDENTIAL
  and MONGO_URL are set per site here (MONGO_URL from the environment means the home's database);
  every other setting from the environment applies to both sites, the API key and the embedding key
  included (the blobs travel as they are, so the key is fleet-wide);
- the edge's token secret: from the environment when set there (then both sites share it), else
  generated once for the edge alone, so a token from one site is no token at the other;
- the edge's site credential: issued by the home (`PUT /v1/sync/sites/edge-1`, API key) on first use
  and kept with the edge's token secret in .secrets/edge-1.env (mode 0600, ignored by git), so a
  restart reuses it. When the home no longer accepts it (its database was reset, or someone revoked the
  site), a new one is issued: this is a development stack, and its operator is the one restarting it.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

HOME_SITE = "home"
EDGE_SITE = "edge-1"
# Set per site by run-sites; from the environment they would make both sites the same one.
SITE_VARS = ("FACEFLEET_SITE", "FACEFLEET_HOME_URL", "FACEFLEET_SYNC_CREDENTIAL", "FACEFLEET_HOME_CA_FILE")
EDGE_FILE_VARS = ("FACEFLEET_TOKEN_SECRET", "FACEFLEET_SYNC_CREDENTIAL")


class HomeRefused(SystemExit):
    """The home cannot issue or check the edge's credential (it says why)."""


def home_env(env: Mapping[str, str]) -> dict[str, str]:
    """The home's environment: everything given, minus another site's identity."""
    out = {k: v for k, v in env.items() if k not in SITE_VARS}
    out["FACEFLEET_SITE"] = HOME_SITE
    return out


def edge_env(
    env: Mapping[str, str], *, home_url: str, mongo_url: str, credential: str, token_secret: str
) -> dict[str, str]:
    """The edge recognizer's environment: the shared settings plus the edge's own identity and database."""
    out = {k: v for k, v in env.items() if k not in SITE_VARS}
    out.update(
        FACEFLEET_SITE=EDGE_SITE,
        FACEFLEET_HOME_URL=home_url,
        FACEFLEET_SYNC_CREDENTIAL=credential,
        FACEFLEET_TOKEN_SECRET=token_secret,
        MONGO_URL=mongo_url,
    )
    return out


# -- the edge's own secrets file ----------------------------------------------------------------
def read_edge_file(path: Path) -> dict[str, str]:
    saved: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() in EDGE_FILE_VARS:
                saved[key.strip()] = value.strip()
    return saved


def write_edge_file(path: Path, values: Mapping[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_text("".join(f"{k}={values[k]}\n" for k in EDGE_FILE_VARS if values.get(k)))
    tmp.replace(path)


def edge_token_secret(environ: Mapping[str, str], path: Path) -> str:
    """FACEFLEET_TOKEN_SECRET from the environment, else the edge's own, generated once and kept."""
    if environ.get("FACEFLEET_TOKEN_SECRET"):
        return environ["FACEFLEET_TOKEN_SECRET"]
    saved = read_edge_file(path)
    if not saved.get("FACEFLEET_TOKEN_SECRET"):
        saved["FACEFLEET_TOKEN_SECRET"] = secrets.token_urlsafe(32)
        write_edge_file(path, saved)
    return saved["FACEFLEET_TOKEN_SECRET"]


# -- the site credential ------------------------------------------------------------------------
def _call(method: str, url: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 (the home's local URL)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError as exc:
        raise HomeRefused(f"the home at {url} cannot be reached: {exc}") from exc
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    return status, body if isinstance(body, dict) else {}


def _no_sync_routes(home_url: str) -> HomeRefused:
    return HomeRefused(
        f"the recognizer at {home_url} has no sync routes (404): it is older than fleet-wide users "
        "(recognizer/README.md), so it cannot be the home of an edge site"
    )


def credential_works(home_url: str, api_key: str, credential: str) -> bool:
    """Does the home accept this credential? False at once when the home does not list the site or
    has revoked it; else one request of at most one change, from the cursor the home last saw the
    site at (its record of the site moves by that one change at most, until the edge's first poll).
    A snapshot would prove it as well, but it streams every user."""
    status, body = _call("GET", f"{home_url}/v1/sync/sites", {"X-API-Key": api_key})
    if status == 404:
        raise _no_sync_routes(home_url)
    if status != 200:
        raise HomeRefused(f"the home answered {status} to GET /v1/sync/sites: {body.get('detail', body)}")
    sites = body.get("sites")
    listed = sites if isinstance(sites, list) else []
    record = next((s for s in listed if isinstance(s, dict) and s.get("site") == EDGE_SITE), None)
    if record is None or record.get("revoked_at"):
        return False
    after = record.get("cursor") or 0
    bearer = {"Authorization": f"Bearer {credential}"}
    status, body = _call("GET", f"{home_url}/v1/sync/changes?after={after}&limit=1", bearer)
    if status in (200, 410):  # 410 cursor_expired: authenticated, only the cursor is too old
        return True
    if status == 401:
        return False
    raise HomeRefused(f"the home answered {status} to the edge's credential check: {body.get('detail', body)}")


def issue_credential(home_url: str, api_key: str, site: str = EDGE_SITE) -> str:
    """`PUT /v1/sync/sites/{site}`: a new credential (any earlier one stops working)."""
    status, body = _call("PUT", f"{home_url}/v1/sync/sites/{site}", {"X-API-Key": api_key})
    if status == 404:
        raise _no_sync_routes(home_url)
    credential = body.get("credential")
    if status != 201 or not isinstance(credential, str) or not credential:
        raise HomeRefused(f"the home refused to issue a credential for {site} ({status}): {body.get('detail', body)}")
    return credential


def sync_credential(home_url: str, api_key: str, path: Path, say: Callable[[str], None]) -> str:
    """The edge's credential: the saved one while the home accepts it, else a new one, saved."""
    saved = read_edge_file(path)
    credential = saved.get("FACEFLEET_SYNC_CREDENTIAL", "")
    if credential.startswith(f"ffs1.{EDGE_SITE}."):
        if credential_works(home_url, api_key, credential):
            say(f"{EDGE_SITE}: reusing its site credential from {path}")
            return credential
        say(f"{EDGE_SITE}: the home no longer accepts the saved credential (reset or revoked); issuing a new one")
    credential = issue_credential(home_url, api_key)
    saved["FACEFLEET_SYNC_CREDENTIAL"] = credential
    write_edge_file(path, saved)
    say(f"{EDGE_SITE}: site credential issued by the home (PUT /v1/sync/sites/{EDGE_SITE}), kept in {path}")
    return credential


def environ_note(environ: Mapping[str, str]) -> str | None:
    """A line about the site-identity variables set in the environment, which run-sites overrides."""
    ignored = [var for var in SITE_VARS if environ.get(var)]
    if not ignored:
        return None
    return f"ignoring {', '.join(ignored)} from the environment: run-sites sets them per site"
