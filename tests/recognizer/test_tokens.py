"""Login tokens: only unexpired, untampered HS256 tokens signed with our secret, for a living user."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from facefleet_testing.recognizer_api import assert_error, enrol, login, new_username
from recognizer.errors import ErrorCode, FacefleetError
from recognizer.tokens import TokenIssuer

SECRET = "unit-test-secret-0123456789"


def _tamper(token: str, **changes) -> str:
    head, payload, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{head}.{raw}.{sig}"


def _none_alg(claims: dict) -> str:
    return jwt.encode(claims, key=None, algorithm="none")


def test_issue_and_verify_round_trip():
    issuer = TokenIssuer(SECRET, 60)
    token, expires = issuer.issue("alice", "uid1")
    claims = TokenIssuer(SECRET, 1).verify(token)  # another replica with the same secret
    assert (claims.username, claims.uid) == ("alice", "uid1")
    assert abs(claims.expires_at.timestamp() - (time.time() + 60)) < 5
    assert claims.expires_at == expires


@pytest.mark.parametrize(
    "make",
    [
        lambda: TokenIssuer(SECRET, 10, clock=lambda: time.time() - 100).issue("alice", "u")[0],
        lambda: _tamper(TokenIssuer(SECRET, 60).issue("alice", "u")[0], sub="mallory"),
        lambda: TokenIssuer("another-secret-0123456789", 60).issue("alice", "u")[0],
        lambda: _none_alg(
            {
                "sub": "alice",
                "uid": "u",
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "iss": "facefleet-recognizer",
            }
        ),
        lambda: jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
        lambda: jwt.encode(
            {"sub": "alice", "uid": "u", "iat": 1, "exp": int(time.time()) + 60, "iss": "facefleet-recognizer"},
            SECRET,
            algorithm="HS512",
        ),
        lambda: "not-a-token",
        lambda: "",
    ],
    ids=["expired", "tampered", "wrong-secret", "alg-none", "missing-claims", "other-alg", "garbage", "empty"],
)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_rejected_tokens(make):
    with pytest.raises(FacefleetError) as e:
        TokenIssuer(SECRET, 60).verify(make())
    assert e.value.code is ErrorCode.UNAUTHORIZED


@pytest.fixture(scope="module")
def session(recognizer_server):
    """A user with a valid token on the shared server, and that server's token secret."""
    name = new_username("tok")
    with recognizer_server.client() as c:
        enrol(c, recognizer_server, name, "hopper")
        token = login(c, "hopper2", name).json()["token"]
    yield name, token, recognizer_server.env["FACEFLEET_TOKEN_SECRET"]
    with recognizer_server.client() as c:
        c.delete(f"/v1/users/{name}", headers=recognizer_server.headers)


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize(
    "forge",
    [
        lambda tok, secret: TokenIssuer(secret, 30, clock=lambda: time.time() - 60).issue(
            _claims(tok)["sub"], _claims(tok)["uid"]
        )[0],
        lambda tok, secret: _tamper(tok, exp=int(time.time()) + 10**6),
        lambda tok, secret: jwt.encode(_claims(tok), "wrong-secret-0123456789-0123456789", algorithm="HS256"),
        lambda tok, secret: _none_alg(_claims(tok)),
        lambda tok, secret: TokenIssuer(secret, 60).issue(_claims(tok)["sub"], "0" * 24)[0],
    ],
    ids=["expired", "tampered", "wrong-secret", "alg-none", "other-user-record"],
)
def test_server_rejects_forged_tokens(api, session, forge):
    name, token, secret = session
    assert api.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # A token minted offline with the server's secret is accepted: the forgeries below differ in one thing.
    minted = TokenIssuer(secret, 60).issue(name, _claims(token)["uid"])[0]
    assert api.get("/v1/me", headers={"Authorization": f"Bearer {minted}"}).json()["username"] == name
    bad = forge(token, secret)
    assert_error(api.get("/v1/me", headers={"Authorization": f"Bearer {bad}"}), 401, "unauthorized")
    assert_error(api.get("/v1/me/attempts", headers={"Authorization": f"Bearer {bad}"}), 401, "unauthorized")


def test_token_dies_when_the_name_is_enrolled_again(api, recognizer_server):
    name = new_username("again")
    enrol(api, recognizer_server, name, "hopper")
    old = login(api, "hopper2", name).json()["token"]
    api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)
    enrol(api, recognizer_server, name, "astronaut")
    assert_error(api.get("/v1/me", headers={"Authorization": f"Bearer {old}"}), 401, "unauthorized")
    api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)
