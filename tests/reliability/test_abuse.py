"""Attacks: brute force (per-username lockout, per-client 1:N limit), forged tokens and missing
API keys on every protected route (enumerated from the OpenAPI document, so a new route cannot
escape), and a scan of every route's answers (and the server log) for embeddings and secrets.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time

import httpx
import jwt
import pytest

from facefleet_testing.recognizer_api import assert_error, db_state, img, new_username
from facefleet_testing.stack import RecognizerServer
from recognizer.ratelimit import FailureLimiter
from recognizer.tokens import TokenIssuer

# The lock outlasts slow waves; the identify window holds 3 failures even when a login takes seconds.
LOCK_S, IDENTIFY_FAILURES, IDENTIFY_WINDOW_S, TTL_S = 120, 3, 20, 3
#: routes anyone may call; every other route in the OpenAPI document must declare a security scheme.
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/site"),  # which site this is and how fresh its copy of the users is: no secret in it
    ("post", "/v1/login"),
    ("post", "/v1/compare"),
}


@pytest.fixture(scope="module")
def rec(database_server, tmp_path_factory):
    env = {
        "FACEFLEET_LOCKOUT_S": str(LOCK_S),
        "FACEFLEET_IDENTIFY_RATE_FAILURES": str(IDENTIFY_FAILURES),
        "FACEFLEET_IDENTIFY_RATE_WINDOW_S": str(IDENTIFY_WINDOW_S),
        "FACEFLEET_TOKEN_TTL_S": str(TTL_S),
    }
    with RecognizerServer.start_new(database_server.url, tmp_path_factory.mktemp("abuse"), env) as server:
        yield server


@pytest.fixture(scope="module")
def spec(rec) -> dict:
    return httpx.get(rec.url + "/openapi.json").json()


def operations(spec: dict) -> list[tuple[str, str, list[str]]]:
    """(method, path, security scheme names) of every operation in the document."""
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            schemes = sorted({name for req in op.get("security", []) for name in req})
            out.append((method, path, schemes))
    return out


def _user(rec: RecognizerServer, person: str = "astronaut") -> str:
    name = new_username("abuse")
    with rec.client() as c:
        r = c.post("/v1/users", headers=rec.headers, data={"username": name}, files=[("images", ("a", img(person)))])
        assert r.status_code == 201, r.text
    return name


def _login(c: httpx.Client, image: str, username: str | None = None) -> httpx.Response:
    return c.post("/v1/login", data={"username": username} if username else {}, files={"image": ("p", img(image))})


# -- brute force ---------------------------------------------------------------------------------
def test_concurrent_brute_force_on_one_username_is_cut_off(rec):
    """24 wrong faces fired 8 at a time: at most the policy's 5 failures, plus the few being embedded,
    are ever evaluated; then the username is locked, even for the right face."""
    name, tried = _user(rec), []

    def attempt() -> None:
        with rec.client() as c:
            tried.append(_login(c, "hopper", name))

    for _ in range(3):
        wave = [threading.Thread(target=attempt) for _ in range(8)]
        for t in wave:
            t.start()
        for t in wave:
            t.join(timeout=120)
    statuses = [r.status_code for r in tried]
    evaluated = statuses.count(401)
    print(f"\nbrute force: {len(tried)} attempts, {evaluated} evaluated (no_match), {statuses.count(429)} locked out")
    assert set(statuses) <= {401, 429} and len(tried) == 24
    assert evaluated <= 5 + 4, f"the lock let {evaluated} guesses through"  # 5 + those already at the model
    with rec.client() as c:
        locked = _login(c, "astronaut2", name)
        assert_error(locked, 429, "locked_out")
        assert 1 <= int(locked.headers["Retry-After"]) <= LOCK_S
        other = _user(rec)
        assert _login(c, "astronaut2", other).status_code == 200  # other usernames are unaffected
        for user in (name, other):  # a locked astronaut would answer later tests' 1:N identifies with 429
            assert c.delete(f"/v1/users/{user}", headers=rec.headers).status_code == 204


def test_failure_limiter_unit():
    now = [0.0]
    lim = FailureLimiter(3, 10, clock=lambda: now[0])
    for _ in range(3):
        assert lim.retry_after("a") is None
        lim.record_failure("a")
    assert lim.retry_after("a") == 10 and lim.retry_after("b") is None and lim.retry_after(None) is None
    now[0] = 9.5
    assert lim.retry_after("a") == 1
    now[0] = 10.01
    assert lim.retry_after("a") is None  # the oldest failure left the window
    assert FailureLimiter(0, 10).retry_after("a") is None  # 0 disables


def test_identify_attempts_are_limited_per_client(rec):
    """A client that fails 1:N identify too often gets 429 locked_out (even with a face that would match),
    another client address does not, 1:1 logins are untouched, and the limit lifts after the window."""
    name = _user(rec, "astronaut")
    # Source addresses of their own (still 127.0.0.1's loopback): no earlier test's failures count.
    attacker = httpx.Client(base_url=rec.url, timeout=60, transport=httpx.HTTPTransport(local_address="127.0.0.3"))
    bystander = httpx.Client(base_url=rec.url, timeout=60, transport=httpx.HTTPTransport(local_address="127.0.0.4"))
    with attacker, bystander:
        for _ in range(IDENTIFY_FAILURES):
            assert_error(_login(attacker, "hopper"), 401, "no_match")  # a stranger's face, 1:N
        started = time.monotonic()
        blocked = _login(attacker, "astronaut2")
        assert_error(blocked, 429, "locked_out")
        assert 1 <= int(blocked.headers["Retry-After"]) <= IDENTIFY_WINDOW_S
        assert _login(bystander, "astronaut2").status_code == 200  # per client, not global
        assert _login(attacker, "astronaut2", name).status_code == 200  # 1:1 has its own (per-username) lock
        time.sleep(max(0.0, started + int(blocked.headers["Retry-After"]) + 0.3 - time.monotonic()))
        ok = _login(attacker, "astronaut2")
        assert ok.status_code == 200, ok.text


def test_forwarded_addresses_count_only_from_trusted_proxies(database_server, tmp_path):
    """X-Forwarded-For names the client only when the peer is in FACEFLEET_TRUSTED_PROXIES: from any other
    peer (127.0.0.1 too, which uvicorn trusts by default) inventing an address per request does not dodge
    the 1:N limit; from a trusted proxy each forwarded client has a budget of its own."""
    env = {
        "FACEFLEET_IDENTIFY_RATE_FAILURES": "2",
        "FACEFLEET_IDENTIFY_RATE_WINDOW_S": "300",
        "FACEFLEET_TRUSTED_PROXIES": "127.0.0.2",
    }
    with RecognizerServer.start_new(database_server.url, tmp_path / "proxies", env) as server:

        def client(address: str) -> httpx.Client:
            return httpx.Client(base_url=server.url, timeout=60, transport=httpx.HTTPTransport(local_address=address))

        def identify(c: httpx.Client, forwarded: str) -> httpx.Response:
            return c.post("/v1/login", files={"image": ("p", img("hopper"))}, headers={"X-Forwarded-For": forwarded})

        with client("127.0.0.1") as direct, client("127.0.0.2") as proxy:
            for k in range(2):
                assert_error(identify(direct, f"203.0.113.{k}"), 401, "no_match")
            assert_error(identify(direct, "203.0.113.9"), 429, "locked_out")  # the peer is the client
            for k in range(3):  # each forwarded client fails once: none reaches its limit of 2
                assert_error(identify(proxy, f"198.51.100.{k}"), 401, "no_match")
            assert_error(identify(proxy, "198.51.100.0"), 401, "no_match")  # its second failure locks it
            assert_error(identify(proxy, "198.51.100.0"), 429, "locked_out")
            assert_error(identify(proxy, "198.51.100.1"), 401, "no_match")  # the others are still served


# -- tokens --------------------------------------------------------------------------------------
def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_tokens_are_refused_on_every_bearer_route(rec, spec):
    name = _user(rec, "hopper")
    with rec.client() as c:
        good = _login(c, "hopper2", name).json()["token"]
        claims = jwt.decode(good, options={"verify_signature": False})
        secret = rec.env["FACEFLEET_TOKEN_SECRET"]
        head, payload, sig = good.split(".")
        forged = {
            "missing": None,
            "garbage": "garbage",
            "tampered_sub": f"{head}.{_b64({**claims, 'sub': 'someone-else'})}.{sig}",
            "tampered_exp": f"{head}.{_b64({**claims, 'exp': claims['exp'] + 10**6})}.{sig}",
            "wrong_secret": TokenIssuer("another-secret-0123456789abcdef", 60).issue(name, claims["uid"])[0],
            "raw_secret_as_key": jwt.encode(claims, secret, algorithm="HS256"),  # not the derived HMAC key
            "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
            "alg_none_upper": f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{payload}.",
            "no_signature": f"{head}.{payload}.",
            "other_user_record": TokenIssuer(secret, 60).issue(name, "0" * 24)[0],
        }
        bearer_routes = [(m, p) for m, p, s in operations(spec) if "HTTPBearer" in s]
        assert {("get", "/v1/me"), ("get", "/v1/me/attempts"), ("delete", "/v1/me")} <= set(bearer_routes)
        assert c.get("/v1/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        time.sleep(TTL_S + 1.1)
        forged["expired"] = good  # the genuine token, after its lifetime
        for method, path in bearer_routes:
            for kind, token in forged.items():
                headers = {} if token is None else {"Authorization": f"Bearer {token}"}
                r = c.request(method.upper(), path, headers=headers)
                assert r.status_code == 401 and r.json()["error"] == "unauthorized", (method, path, kind, r.text)
        assert c.get(f"/v1/users/{name}", headers=rec.headers).status_code == 200  # DELETE /v1/me did nothing


# -- API key -------------------------------------------------------------------------------------
def _request_for(method: str, path: str, username: str) -> dict:
    """A request that would succeed with the right key (path parameters filled, multipart body)."""
    kw: dict = {"method": method.upper(), "url": path.replace("{username}", username).replace("{site}", "edge-abuse")}
    if method == "post":
        kw["files"] = [("images", ("a.jpg", img("astronaut2")))]
        if "{username}" not in path:
            kw["data"] = {"username": new_username("keyless")}
    return kw


def test_every_route_is_public_by_name_or_needs_a_credential(spec):
    unprotected = {(m, p) for m, p, s in operations(spec) if not s}
    assert unprotected == PUBLIC, (
        f"routes without a security scheme that are not meant to be public: {sorted(unprotected - PUBLIC)}"
    )


def test_api_key_missing_or_wrong_on_every_protected_route(rec, spec, database_server):
    name = _user(rec, "astronaut")
    key = rec.api_key
    wrong = {
        "missing": None,
        "empty": "",
        "wrong": "x" * len(key),
        "prefix": key[:-1],
        "suffix": key + "x",
        "upper": key.upper(),
        "reversed": key[::-1],
        "operator": '{"$ne": ""}',
        "bearer_style": f"Bearer {key}",
    }
    routes = [(m, p) for m, p, s in operations(spec) if "APIKeyHeader" in s]
    assert len(routes) >= 5
    before = db_state(database_server, rec)
    with rec.client() as c:
        for method, path in routes:
            for value in wrong.values():
                kw = _request_for(method, path, name)
                kw["headers"] = {} if value is None else {"X-API-Key": value}
                # the key sent as a bearer token or a query parameter is not the key either
                for extra in ({}, {"params": {"api_key": key}}):
                    r = c.request(**kw, **extra)
                    assert_error(r, 401, "unauthorized")
            r = (
                c.request(**_request_for(method, path, name), headers={"X-API-Key": key})
                if method != "delete"
                else None
            )
            assert r is None or r.status_code in (200, 201), (method, path, r.text)  # the right key works
    after = db_state(database_server, rec)
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= {"users", "meta"}  # only the right-key requests wrote (an enrolment, an added face)
    with database_server.client() as m:
        assert m[rec.db_name]["users"].find_one({"username": name})["faces"] == 2  # one added, by the right key


# -- leaks ---------------------------------------------------------------------------------------
def _numbers_lists(value, found: list) -> None:
    if isinstance(value, list):
        if sum(isinstance(x, (int, float)) for x in value) >= 16:
            found.append(value[:4])
        for x in value:
            _numbers_lists(x, found)
    elif isinstance(value, dict):
        for x in value.values():
            _numbers_lists(x, found)


def test_no_route_leaks_embeddings_or_secrets(rec, spec):
    """Call every route in the document (success and error paths) and scan bodies, headers and the log."""
    name = _user(rec, "hopper")
    secrets_ = [rec.env[k] for k in ("FACEFLEET_API_KEY", "FACEFLEET_TOKEN_SECRET", "FACEFLEET_EMBEDDING_KEY")]
    answers: list[httpx.Response] = []
    with rec.client() as c:
        token = _login(c, "hopper2", name).json()["token"]
        auth = {"X-API-Key": rec.api_key, "Authorization": f"Bearer {token}"}
        for method, path, _ in operations(spec):
            if method == "delete":
                continue  # deleting comes last, below
            url = path.replace("{username}", name)
            if path == "/v1/login":
                answers += [_login(c, "hopper2"), _login(c, "hopper2", name), _login(c, "astronaut")]
            elif path == "/v1/compare":
                answers.append(c.post(url, files={"image_a": ("a", img("hopper")), "image_b": ("b", img("hopper2"))}))
            elif method == "post":
                answers.append(
                    c.post(
                        url,
                        headers=auth,
                        data={} if "{username}" in path else {"username": name},
                        files=[("images", ("a", img("hopper2")))],
                    )
                )
            else:
                answers += [c.get(url, headers=auth), c.get(url)]
        answers.append(c.get("/openapi.json"))
        answers.append(c.delete(f"/v1/users/{name}", headers=auth))
        answers.append(c.delete("/v1/me", headers=auth))
    for r in answers:
        text = r.text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        for s in secrets_:
            assert s not in text, f"{r.request.method} {r.request.url.path} leaks a secret"
        if r.headers.get("content-type", "").startswith("application/json") and r.content:
            found: list = []
            _numbers_lists(r.json(), found)
            assert not found, f"{r.request.method} {r.request.url.path} returns number arrays: {found}"
        blobs = re.findall(r"[A-Za-z0-9+/_=-]{300,}", r.text)  # base64 of one embedding is ~684 chars
        assert not blobs, f"{r.request.method} {r.request.url.path} returns a long opaque blob"
    tokens = [r.json()["token"] for r in answers if r.request.url.path == "/v1/login" and r.status_code == 200]
    for t in tokens:  # the token carries claims only
        assert set(jwt.decode(t, options={"verify_signature": False})) == {"sub", "uid", "iat", "exp", "iss", "jti"}
    log = rec.log_path.read_text(errors="replace")
    for s in secrets_ + tokens:
        assert s not in log, "the server log holds a secret or a token"
