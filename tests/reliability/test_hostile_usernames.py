"""Hostile usernames and operator injection: rejected, or stored and used literally, never interpreted.

A real user `victim` is enrolled first; every trick below must leave it (and everything else
stored) exactly as it was, and must never return, lock, delete or log in as it.
"""

from __future__ import annotations

import json

import pytest

from facefleet_testing.recognizer_api import assert_error, db_state, img

VICTIM = "victim"

BAD_NAMES = {
    "empty": "",
    "too_short": "ab",
    "too_long_65": "a" * 65,
    "very_long_100k": "a" * 100_000,
    "cyrillic_a": "\u0430dmin-victim",  # а looks like a
    "fullwidth": "\uff56\uff49\uff43\uff54\uff49\uff4d",  # ｖｉｃｔｉｍ: NFKC would make it "victim"
    "zero_width": "victim\u200b",
    "dotless_i": "v\u0131ctim",
    "combining": "victim\u0301",
    "upper": "VICTIM",
    "trailing_space": "victim ",
    "newline": "victim\n",
    "nul": "victim\x00",
    "dot_dot": "..",
    "path_up": "../victim",
    "path_slash": "victim/faces",
    "query": "victim?x=1",
    "fragment": "victim#x",
    "percent": "victim%2f",
    "mongo_ne": '{"$ne": null}',
    "mongo_gt": '{"$gt": ""}',
    "mongo_regex": '{"$regex": ".*"}',
    "mongo_where": "$where",
    "dollar_prefix": "$victim",
    "sql_style": "victim' or '1'='1",
}

#: valid per the contract's pattern, so stored and read back exactly as sent.
ODD_BUT_VALID = ["...", "-_-", "a.b", "_.-", "0" * 64]

#: path forms that must never reach the victim's record (422, or 404 for another route).
BAD_PATHS = [
    "/v1/users/VICTIM",
    "/v1/users/victim%00",
    "/v1/users/victim%20",
    "/v1/users/victim%3Fx=1",
    "/v1/users/..%2Fvictim",
    "/v1/users/%7B%22%24ne%22%3Anull%7D",
    "/v1/users/%24ne",
    "/v1/users/victim%2F..",
    "/v1/users/v%C4%B1ctim",
    "/v1/users/%EF%BD%96%EF%BD%89%EF%BD%83%EF%BD%94%EF%BD%89%EF%BD%8D",
]


@pytest.fixture(scope="module")
def rec(own_recognizer):
    with own_recognizer.client() as c:
        r = c.post(
            "/v1/users",
            headers=own_recognizer.headers,
            data={"username": VICTIM},
            files=[("images", ("v.jpg", img("hopper")))],
        )
        assert r.status_code == 201, r.text
    return own_recognizer


@pytest.fixture()
def untouched(rec, database_server):
    """The stored users are exactly as before, and the victim's record was not touched."""
    before = db_state(database_server, rec, users_only=True)
    yield
    assert db_state(database_server, rec, users_only=True) == before
    with database_server.client() as m:
        for doc in m[rec.db_name]["users"].find({}, {"username": 1}):
            assert isinstance(doc["username"], str)


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_bad_username_is_rejected_everywhere(rec, database_server, untouched, name):
    h = rec.headers
    with rec.client() as c:
        r = c.post("/v1/users", headers=h, data={"username": name}, files=[("images", ("a", img("astronaut")))])
        if name == "":
            assert_error(r, 422, "missing_field")  # an empty form field is a missing one
        else:
            assert_error(r, 422, "invalid_username")
        # At login, an empty username means 1:N identify (of the astronaut: nobody enrolled).
        lr = c.post("/v1/login", data={"username": name}, files={"image": ("p", img("hopper2"))})
        if name == "":
            assert lr.status_code == 200, lr.text  # identify, the contract's path
        else:
            assert_error(lr, 422, "invalid_username")
    with database_server.client() as m:
        lockouts = m[rec.db_name]["lockouts"]
        assert lockouts.count_documents({"_id": name}) == 0 or name == ""


@pytest.mark.parametrize("path", BAD_PATHS)
def test_tricky_paths_never_reach_the_victim(rec, untouched, path):
    h = rec.headers
    with rec.client() as c:
        for r in (
            c.get(path, headers=h),
            c.delete(path, headers=h),
            c.post(path + "/faces", headers=h, files=[("images", ("a", img("astronaut")))]),
        ):
            assert r.status_code in (404, 405, 422), (path, r.status_code, r.text)
            body = r.json()
            assert set(body) == {"error", "detail"} and body["error"] in ("invalid_username", "not_found")
            assert VICTIM not in r.text or body["error"] == "not_found" and "victim" not in body["detail"]
        assert c.get(f"/v1/users/{VICTIM}", headers=h).json()["faces"] == 1


def test_operators_in_every_field_are_not_interpreted(rec, untouched):
    ne = json.dumps({"$ne": None})
    h = rec.headers
    with rec.client() as c:
        # JSON bodies are not the contract's multipart: the fields are missing, nothing is queried.
        assert_error(c.post("/v1/login", json={"username": {"$ne": None}, "image": "x"}), 422, "missing_field")
        assert_error(
            c.post("/v1/users", headers=h, json={"username": {"$gt": ""}, "images": ["x"]}), 422, "missing_field"
        )
        # An operator where a file belongs is not a file.
        assert_error(c.post("/v1/login", data={"image": ne}), 422, "missing_field")
        assert_error(c.post("/v1/compare", data={"image_a": ne, "image_b": ne}), 422, "missing_field")
        # Booleans and integers are parsed, not evaluated.
        r = c.post(
            "/v1/users",
            headers=h,
            data={"username": "consent-trick", "consent": ne},
            files=[("images", ("a", img("astronaut")))],
        )
        assert_error(r, 422, "missing_field")
        # Credentials that are operators are just wrong credentials.
        assert_error(c.get("/v1/users", headers={"X-API-Key": ne}), 401, "unauthorized")
        assert_error(c.get("/v1/users", headers={"X-API-Key": json.dumps({"$gt": ""})}), 401, "unauthorized")
        assert_error(c.get("/v1/me", headers={"Authorization": f"Bearer {ne}"}), 401, "unauthorized")
        for q in ("limit[$gt]=0", "username[$ne]=x"):  # unknown parameters: ignored
            assert_error(c.get(f"/v1/me/attempts?{q}", headers={"Authorization": "Bearer x"}), 401, "unauthorized")
        r = c.get("/v1/me/attempts?limit=%7B%22%24gt%22%3A0%7D", headers={"Authorization": "Bearer x"})
        assert_error(r, 422, "missing_field")  # not an integer: refused before anything is read
        # A repeated field is one value (the last), still validated and used literally.
        r = c.post("/v1/login", data={"username": [VICTIM, ne]}, files={"image": ("p", img("hopper2"))})
        assert_error(r, 422, "invalid_username")


@pytest.mark.parametrize("name", ODD_BUT_VALID)
def test_odd_but_valid_names_are_stored_literally(rec, database_server, name):
    h = rec.headers
    with rec.client() as c:
        r = c.post("/v1/users", headers=h, data={"username": name}, files=[("images", ("a", img("astronaut")))])
        assert r.status_code == 201 and r.json()["username"] == name, r.text
        try:
            got = c.get(f"/v1/users/{name}", headers=h)
            assert got.status_code == 200 and got.json()["username"] == name, got.text
            with database_server.client() as m:
                assert m[rec.db_name]["users"].count_documents({"username": name}) == 1
            ok = c.post("/v1/login", data={"username": name}, files={"image": ("p", img("astronaut2"))})
            assert ok.status_code == 200 and ok.json()["username"] == name, ok.text
            assert c.get(f"/v1/users/{VICTIM}", headers=h).json()["faces"] == 1
        finally:
            assert c.delete(f"/v1/users/{name}", headers=h).status_code == 204
