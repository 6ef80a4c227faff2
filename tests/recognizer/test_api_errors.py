"""Every error code of the contract, each produced by a real bad input; nothing stored after any.

Rejected enrolments, additions and logins must leave the database exactly as it was (users,
change counter, audit and lockouts); a wrong face at login is audited and counted, by design,
but still changes no user.
"""

from __future__ import annotations

import httpx
import pytest

from facefleet_testing.recognizer_api import assert_error, db_state, enrol, img, login, new_username

BAD_IMAGES = [
    ("random_bytes", 422, "not_an_image"),
    ("truncated_jpeg", 422, "not_an_image"),
    ("no_face", 422, "no_face"),
    ("two_faces", 422, "multiple_faces"),
    ("tiny_face", 422, "face_too_small"),
    ("png_60mp", 413, "image_too_large"),
    ("over_10mb", 413, "image_too_large"),
]


@pytest.fixture(scope="module")
def existing(recognizer_server) -> str:
    """An enrolled user the error tests must never change."""
    name = new_username("keep")
    with recognizer_server.client() as c:
        assert enrol(c, recognizer_server, name, "hopper").status_code == 201
    return name


@pytest.fixture()
def unchanged(database_server, recognizer_server, existing):
    """Asserts the whole stored state is identical after the test's request."""
    before = db_state(database_server, recognizer_server)
    yield
    assert db_state(database_server, recognizer_server) == before


@pytest.mark.parametrize("image,status,code", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_bad_image_at_enrolment(api, recognizer_server, unchanged, image, status, code):
    name = new_username("bad")
    # A good face first: all or nothing means it must not be stored either.
    r = enrol(api, recognizer_server, name, "astronaut", image)
    assert_error(r, status, code)
    assert_error(api.get(f"/v1/users/{name}", headers=recognizer_server.headers), 404, "not_found")


@pytest.mark.parametrize("image,status,code", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_bad_image_at_login(api, unchanged, existing, image, status, code):
    assert_error(login(api, image, existing), status, code)
    assert_error(login(api, image), status, code)


@pytest.mark.parametrize("image", ["no_face", "random_bytes", "png_60mp"])
def test_bad_image_when_adding_faces(api, recognizer_server, unchanged, existing, image):
    files = [("images", ("ok.jpg", img("hopper2"))), ("images", ("bad", img(image)))]
    r = api.post(f"/v1/users/{existing}/faces", headers=recognizer_server.headers, files=files)
    assert r.status_code in (413, 422) and r.json()["error"] in ("no_face", "not_an_image", "image_too_large")
    assert api.get(f"/v1/users/{existing}", headers=recognizer_server.headers).json()["faces"] == 1


@pytest.mark.parametrize("username", ["ab", "UPPER", "has space", "slash/x", "x" * 65, "émile", "semi;colon"])
def test_invalid_username(api, recognizer_server, unchanged, username):
    assert_error(enrol(api, recognizer_server, username, "astronaut"), 422, "invalid_username")
    assert_error(login(api, "astronaut", username), 422, "invalid_username")


@pytest.mark.parametrize("path", ["/v1/users/AB", "/v1/users/a%20b"])
def test_invalid_username_in_path(api, recognizer_server, unchanged, path):
    assert_error(api.get(path, headers=recognizer_server.headers), 422, "invalid_username")
    assert_error(api.delete(path, headers=recognizer_server.headers), 422, "invalid_username")


def test_missing_fields(api, recognizer_server, unchanged):
    h = recognizer_server.headers
    assert_error(api.post("/v1/users", headers=h, data={"username": "nobody1"}), 422, "missing_field")
    assert_error(api.post("/v1/users", headers=h, files=[("images", ("a", img("astronaut")))]), 422, "missing_field")
    assert_error(api.post("/v1/users", headers=h), 422, "missing_field")
    assert_error(api.post("/v1/login", data={"username": "nobody1"}), 422, "missing_field")
    assert_error(
        api.post("/v1/login", content=b"{}", headers={"content-type": "application/json"}), 422, "missing_field"
    )
    assert_error(api.post("/v1/compare", files={"image_a": ("a", img("astronaut"))}), 422, "missing_field")


def test_consent_refused_stores_nothing(api, recognizer_server, unchanged):
    r = api.post(
        "/v1/users",
        headers=recognizer_server.headers,
        data={"username": new_username(), "consent": "false"},
        files=[("images", ("a", img("astronaut")))],
    )
    assert_error(r, 422, "missing_field")


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "wrong-key-but-long-enough"}, {"X-API-Key": ""}], ids=["missing", "wrong", "empty"]
)
def test_api_key_required(api, recognizer_server, unchanged, existing, headers):
    files = [("images", ("a", img("astronaut")))]
    assert_error(
        api.post("/v1/users", headers=headers, data={"username": new_username()}, files=files), 401, "unauthorized"
    )
    assert_error(api.post(f"/v1/users/{existing}/faces", headers=headers, files=files), 401, "unauthorized")
    assert_error(api.get("/v1/users", headers=headers), 401, "unauthorized")
    assert_error(api.get(f"/v1/users/{existing}", headers=headers), 401, "unauthorized")
    assert_error(api.delete(f"/v1/users/{existing}", headers=headers), 401, "unauthorized")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_bad_token(api, unchanged, token):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    assert_error(api.get("/v1/me", headers=h), 401, "unauthorized")
    assert_error(api.get("/v1/me/attempts", headers=h), 401, "unauthorized")
    assert_error(api.delete("/v1/me", headers=h), 401, "unauthorized")


def test_unknown_user(api, recognizer_server, unchanged):
    h, ghost = recognizer_server.headers, new_username("ghost")
    assert_error(api.get(f"/v1/users/{ghost}", headers=h), 404, "not_found")
    assert_error(api.delete(f"/v1/users/{ghost}", headers=h), 404, "not_found")
    r = api.post(f"/v1/users/{ghost}/faces", headers=h, files=[("images", ("a", img("astronaut")))])
    assert_error(r, 404, "not_found")


def test_unknown_user_at_login_is_no_match(api, database_server, recognizer_server):
    before = db_state(database_server, recognizer_server, users_only=True)
    assert_error(login(api, "astronaut", new_username("ghost")), 401, "no_match")
    assert db_state(database_server, recognizer_server, users_only=True) == before


def test_existing_user(api, recognizer_server, unchanged, existing):
    assert_error(enrol(api, recognizer_server, existing, "astronaut"), 409, "user_exists")


def test_unknown_route(api, unchanged):
    assert_error(api.get("/v1/nothing"), 404, "not_found")


def test_body_over_the_limit_is_refused_while_reading(recognizer_server, unchanged):
    """A chunked upload without Content-Length is cut off once it passes the limit."""
    sent = {"n": 0}

    def body():
        boundary = b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a"\r\n\r\n'
        yield boundary
        for _ in range(64):  # up to 64 MiB, far more than the limit
            sent["n"] += 1
            yield b"\0" * (1024 * 1024)

    try:
        r = httpx.post(
            recognizer_server.url + "/v1/login",
            content=body(),
            timeout=30,
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        )
    except httpx.HTTPError:
        return  # the server may also close the connection while the client is still sending
    assert_error(r, 413, "image_too_large")
    assert "request body" in r.json()["detail"]  # refused by the streaming limit, not after buffering
