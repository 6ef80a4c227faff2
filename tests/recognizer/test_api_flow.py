"""The recognizer's happy paths over HTTP against the real database and the real model."""

from __future__ import annotations

import re

from facefleet_testing.recognizer_api import assert_error, enrol, login, new_username

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_enrol_then_login_one_to_one_and_one_to_n(api, recognizer_server):
    name = new_username("eileen")
    r = enrol(api, recognizer_server, name, "astronaut")
    assert r.status_code == 201 and r.json() == {"username": name, "faces": 1}

    r = login(api, "astronaut2", name)  # another picture of the same person
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"username", "distance", "threshold", "token"}
    assert body["username"] == name and body["distance"] <= body["threshold"]

    r = login(api, "astronaut2")  # no username: 1:N identify
    assert r.status_code == 200 and r.json()["username"] == name

    me = api.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["username"] == name
    assert RFC3339.match(me.json()["expires_at"])
    api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)


def test_wrong_face_is_no_match(api, recognizer_server):
    name = new_username("eileen")
    assert enrol(api, recognizer_server, name, "astronaut").status_code == 201
    assert_error(login(api, "hopper", name), 401, "no_match")
    api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)


def test_login_uses_the_closest_of_several_faces(api, recognizer_server):
    name = new_username("multi")
    r = enrol(api, recognizer_server, name, "astronaut", "astronaut3")
    assert r.status_code == 201 and r.json()["faces"] == 2
    r = api.post(
        f"/v1/users/{name}/faces", headers=recognizer_server.headers, files=[("images", ("x.jpg", _img("astronaut2")))]
    )
    assert r.status_code == 200 and r.json() == {"username": name, "faces": 3}
    user = api.get(f"/v1/users/{name}", headers=recognizer_server.headers).json()
    assert user["faces"] == 3 and user["consent"] is True and user["model"] == "Dlib"
    assert RFC3339.match(user["created_at"]) and RFC3339.match(user["updated_at"])
    assert "embedding" not in str(user) and "embeddings" not in user
    # The probe IS one of the enrolled images: the minimum over faces is (near) zero.
    assert login(api, "astronaut2", name).json()["distance"] < 0.05
    api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)


def test_list_users_never_shows_embeddings(api, recognizer_server):
    name = new_username("list")
    enrol(api, recognizer_server, name, "hopper")
    r = api.get("/v1/users", headers=recognizer_server.headers)
    assert r.status_code == 200
    users = {u["username"]: u for u in r.json()["users"]}
    assert users[name]["faces"] == 1
    assert set(users[name]) == {"username", "faces", "consent", "model", "created_at", "updated_at"}
    api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)


def test_delete_removes_the_user_and_every_embedding(api, recognizer_server, database_server):
    name = new_username("gone")
    enrol(api, recognizer_server, name, "hopper", "hopper2")
    assert login(api, "hopper2").json()["username"] == name
    r = api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)
    assert r.status_code == 204 and r.content == b""
    assert_error(api.get(f"/v1/users/{name}", headers=recognizer_server.headers), 404, "not_found")
    assert_error(login(api, "hopper2", name), 401, "no_match")
    r = login(api, "hopper2")  # 1:N: the in-memory index forgot the embeddings too
    assert r.status_code == 401 or r.json()["username"] != name
    with database_server.client() as c:
        assert c[recognizer_server.db_name]["users"].count_documents({"username": name}) == 0


def test_me_attempts_and_delete_me(api, recognizer_server):
    name = new_username("self")
    enrol(api, recognizer_server, name, "hopper")
    assert_error(login(api, "astronaut", name), 401, "no_match")
    token = login(api, "hopper2", name).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = api.get("/v1/me/attempts", headers=auth)
    assert r.status_code == 200
    attempts = r.json()["attempts"]
    assert [a["result"] for a in attempts[:2]] == ["success", "no_match"]  # newest first
    assert all(RFC3339.match(a["at"]) and isinstance(a["distance"], float) for a in attempts)
    assert attempts[0]["at"] >= attempts[1]["at"]

    assert api.delete("/v1/me", headers=auth).status_code == 204
    assert_error(api.get(f"/v1/users/{name}", headers=recognizer_server.headers), 404, "not_found")
    assert_error(api.get("/v1/me", headers=auth), 401, "unauthorized")  # the token died with the user


def test_compare(api):
    same = api.post("/v1/compare", files={"image_a": ("a", _img("astronaut")), "image_b": ("b", _img("astronaut2"))})
    diff = api.post("/v1/compare", files={"image_a": ("a", _img("astronaut")), "image_b": ("b", _img("hopper"))})
    assert same.status_code == diff.status_code == 200
    assert same.json()["match"] is True and diff.json()["match"] is False
    assert same.json()["distance"] < same.json()["threshold"] < diff.json()["distance"]


def test_health_ready_metrics(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model"] == "Dlib"
    text = api.get("/metrics").text
    assert 'facefleet_http_requests_total{method="POST",outcome="ok",route="/v1/login",status="200"}' in text
    assert "facefleet_http_request_duration_seconds_bucket" in text
    assert "facefleet_model_seconds_count" in text
    assert 'facefleet_login_attempts_total{mode="identify",result="success"}' in text


def test_openapi_documents_every_route_and_error(api):
    doc = api.get("/openapi.json").json()
    expected = {
        ("/v1/users", "post"): {201, 401, 409, 413, 422, 503},
        ("/v1/users", "get"): {200, 401, 503},
        ("/v1/users/{username}", "get"): {200, 401, 404, 422, 503},
        ("/v1/users/{username}", "delete"): {204, 401, 404, 422, 503},
        ("/v1/users/{username}/faces", "post"): {200, 401, 404, 413, 422, 503},
        ("/v1/login", "post"): {200, 401, 413, 422, 429, 503},
        ("/v1/compare", "post"): {200, 413, 422, 503},
        ("/v1/me", "get"): {200, 401, 503},
        ("/v1/me", "delete"): {204, 401, 503},
        ("/v1/me/attempts", "get"): {200, 401, 422, 503},
        ("/readyz", "get"): {200, 503},
        ("/v1/site", "get"): {200, 503},
        ("/v1/sync/sites/{site}", "put"): {201, 401, 404, 422, 503},
        ("/v1/sync/sites", "get"): {200, 401, 404, 503},
        ("/v1/sync/sites/{site}", "delete"): {204, 401, 404, 422, 503},
        ("/v1/sync/changes", "get"): {200, 401, 404, 410, 422, 503},
        ("/v1/sync/snapshot", "get"): {200, 401, 404, 503},
        ("/v1/sync/users", "post"): {201, 401, 404, 409, 413, 422, 503},
        ("/v1/sync/users/{username}/faces", "post"): {200, 401, 404, 413, 422, 503},
        ("/v1/sync/users/{username}", "delete"): {204, 401, 404, 422, 503},
    }
    for (path, method), statuses in expected.items():
        responses = doc["paths"][path][method]["responses"]
        assert {int(s) for s in responses} == statuses, (path, method, responses.keys())
        for status in statuses - {200, 201, 204}:
            ref = responses[str(status)]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody"), (path, method, status)
    assert "HTTPValidationError" not in str(doc)


def _img(name: str) -> bytes:
    from facefleet_testing.recognizer_api import img

    return img(name)


def test_logs_are_json_lines_without_biometric_data(api, recognizer_server):
    name = new_username("logs")
    enrol(api, recognizer_server, name, "hopper")
    token = login(api, "hopper2", name).json()["token"]
    api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)
    lines = [line for line in recognizer_server.log_path.read_text().splitlines() if line.strip()]
    records = [__import__("json").loads(line) for line in lines]  # every line is one JSON object
    assert any(
        r.get("msg") == "request" and r.get("route") == "/v1/login" and r.get("outcome") == "ok" for r in records
    )
    assert any(r.get("msg") == "login attempt" and r.get("username") == name for r in records)
    text = "\n".join(lines)
    assert token not in text
    assert not re.search(r"(-?\d\.\d+,\s*){16}", text), "a float vector (embedding?) in the logs"
    assert not any(key in r for r in records for key in ("embedding", "image", "images"))
    assert all(isinstance(r.get("embeddings", 0), int) for r in records)  # a count, never the vectors
    assert not any(isinstance(v, (list, dict)) for r in records for v in r.values())


def test_logout_revokes_the_token_on_every_replica(api, recognizer_server, database_server, tmp_path):
    """POST /v1/logout: that token answers 401 everywhere afterwards, on a second replica of the
    site too (same database and secrets); the user's other tokens keep working."""
    from facefleet_testing.stack import RecognizerServer

    name = new_username("logout")
    assert enrol(api, recognizer_server, name, "hopper").status_code == 201
    first = login(api, "hopper2", name).json()["token"]
    second = login(api, "hopper2", name).json()["token"]  # the same second, yet another token (jti)
    assert first != second
    auth = {"Authorization": f"Bearer {first}"}
    assert api.get("/v1/me", headers=auth).status_code == 200
    assert_error(api.post("/v1/logout"), 401, "unauthorized")  # no token
    r = api.post("/v1/logout", headers=auth)
    assert r.status_code == 204 and not r.content
    for call in (
        lambda c: c.get("/v1/me", headers=auth),
        lambda c: c.get("/v1/me/attempts", headers=auth),
        lambda c: c.post("/v1/logout", headers=auth),
        lambda c: c.delete("/v1/me", headers=auth),
    ):
        assert_error(call(api), 401, "unauthorized")
    with (
        RecognizerServer.start_new(database_server.url, tmp_path / "replica", recognizer_server.env) as replica,
        replica.client() as other,
    ):
        assert_error(other.get("/v1/me", headers=auth), 401, "unauthorized")
        assert other.get("/v1/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    assert api.get("/v1/users/" + name, headers=recognizer_server.headers).status_code == 200  # the user stays
    api.delete(f"/v1/users/{name}", headers=recognizer_server.headers)
