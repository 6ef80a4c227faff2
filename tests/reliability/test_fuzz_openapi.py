"""Fuzz the recognizer from its own OpenAPI document (schemathesis), against a real server and DB.

For every operation, schema-valid (positive) and schema-violating (negative) requests are
generated; about half of the generated image fields are swapped for real faces so that the
success paths (enrolment, login, tokens) are reached too. Each answer must:
- never be a 5xx except a documented 503; match the documented status codes, content type and
  response schema (schemathesis' checks);
- leave the database exactly as the answer says: a refused request changes no user, an
  accepted one changes exactly the user it names, by exactly the faces it reports.

Not checked: schemathesis' `positive_data_acceptance`, because a schema cannot say "this image
shows one face": schema-valid random bytes are rightly refused with 422 `not_an_image`; and
`negative_data_rejection` when the only violation is an unknown query parameter (ignored, as
HTTP APIs do) or when the refusal is a documented 413/429 (that check only counts 400/422-style ones).
FACEFLEET_FUZZ_EXAMPLES sets the examples per operation and mode (default 8; `make soak`: 30).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from reliability_load import write_report
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from facefleet_testing.recognizer_api import img

EXAMPLES = int(os.environ.get("FACEFLEET_FUZZ_EXAMPLES", "8"))
FACES = ["astronaut", "astronaut2", "hopper", "hopper2"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
STATS: Counter = Counter()


@pytest.fixture(scope="module")
def target(own_recognizer, database_server):
    schema = schemathesis.openapi.from_url(own_recognizer.url + "/openapi.json")
    return own_recognizer, database_server, schema


def _users(db, rec) -> dict[str, int]:
    with db.client() as m:
        return {d["username"]: int(d["faces"]) for d in m[rec.db_name]["users"].find({}, {"username": 1, "faces": 1})}


def _token(rec) -> str:
    """A valid bearer token for a user enrolled just for that (re-created when fuzzing deleted it)."""
    with rec.client() as c:
        r = c.post("/v1/login", data={"username": "fuzz-owner"}, files={"image": ("p", img("hopper2"))})
        if r.status_code == 200:
            return r.json()["token"]
        c.delete("/v1/users/fuzz-owner", headers=rec.headers)
        c.post(
            "/v1/users", headers=rec.headers, data={"username": "fuzz-owner"}, files=[("images", ("h", img("hopper")))]
        )
        r = c.post("/v1/login", data={"username": "fuzz-owner"}, files={"image": ("p", img("hopper2"))})
        assert r.status_code == 200, r.text
        return r.json()["token"]


def _with_faces(body, faces: list[str]):
    """Swap generated binary fields for real face images (one per drawn name)."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    for key in ("images", "image", "image_a", "image_b"):
        if key in out and faces:
            out[key] = [img(f) for f in faces[:3]] if key == "images" else img(faces[0])
    return out


def _expected_users(
    before: dict[str, int], method: str, path: str, status: int, body, request_body, path_params: dict
) -> dict[str, int]:
    after = dict(before)
    if status >= 300:
        return after
    if method == "POST" and path == "/v1/users":
        after[body["username"]] = body["faces"]
    elif method == "POST" and path.endswith("/faces"):
        after[path_params["username"]] = body["faces"]
    elif method == "DELETE" and path == "/v1/users/{username}":
        after.pop(path_params["username"])
    elif method == "DELETE" and path == "/v1/me":
        after.pop("fuzz-owner")
    return after


def _operations():
    # The document is fetched from the module's server inside the test; ids are fixed here.
    return [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/v1/users"),
        ("post", "/v1/users"),
        ("post", "/v1/users/{username}/faces"),
        ("get", "/v1/users/{username}"),
        ("delete", "/v1/users/{username}"),
        ("post", "/v1/login"),
        ("post", "/v1/compare"),
        ("get", "/v1/me"),
        ("delete", "/v1/me"),
        ("get", "/v1/me/attempts"),
        ("post", "/v1/logout"),
        ("get", "/v1/site"),
        ("put", "/v1/sync/sites/{site}"),
        ("get", "/v1/sync/sites"),
        ("delete", "/v1/sync/sites/{site}"),
        ("get", "/v1/sync/changes"),
        ("get", "/v1/sync/snapshot"),
        ("post", "/v1/sync/users"),
        ("post", "/v1/sync/users/{username}/faces"),
        ("delete", "/v1/sync/users/{username}"),
    ]


def test_the_fuzzed_operations_are_all_the_documented_ones(target):
    _, _, schema = target
    documented = {(r.ok().method.lower(), r.ok().path) for r in schema.get_all_operations()}
    assert documented == set(_operations()), "a route was added or removed: update _operations()"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("method,path", _operations(), ids=[f"{m} {p}" for m, p in _operations()])
def test_fuzz_operation(target, method, path, mode):
    rec, db, schema = target
    op = next(r.ok() for r in schema.get_all_operations() if (r.ok().method.lower(), r.ok().path) == (method, path))
    if mode is GenerationMode.NEGATIVE and method == "get" and path in ("/healthz", "/readyz", "/metrics", "/v1/site"):
        pytest.skip("no parameters or body: nothing to make invalid")
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(
        case=op.as_strategy(generation_mode=mode),
        faces=st.lists(st.sampled_from(FACES), max_size=3),
        existing=st.booleans(),
    )
    def run(case, faces, existing):
        if mode is GenerationMode.POSITIVE:
            case.body = _with_faces(case.body, faces)
            if existing and case.path_parameters and "username" in case.path_parameters:
                case.path_parameters["username"] = "fuzz-owner"  # reach the found-user paths too
        headers = {"X-API-Key": rec.api_key}
        if "/v1/me" in path or path == "/v1/logout":
            headers["Authorization"] = f"Bearer {_token(rec)}"
        before = _users(db, rec)
        response = case.call(headers=headers, timeout=120)
        STATS[f"{method.upper()} {path} {mode.value} {response.status_code}"] += 1
        extra_query = set(case.query or {}) - {p.name for p in op.query}
        if extra_query and response.status_code < 300:
            # Unknown query parameters are ignored, as HTTP APIs do; only that makes this case "negative".
            STATS["negative cases with only unknown query parameters, ignored"] += 1
            case.validate_response(response, checks=CHECKS)
        elif response.status_code in (413, 429):
            # Refused, with a documented status schemathesis' rejection check does not count (e.g. 413
            # for more than FACEFLEET_MAX_IMAGES images).
            case.validate_response(response, checks=CHECKS)
        else:
            case.validate_response(response, checks=checks)
        assert response.status_code < 500 or response.status_code == 503, response.text
        ctype = next((v[0] for k, v in response.headers.items() if k.lower() == "content-type" and v), "")
        body = response.json() if ctype.startswith("application/json") else None
        expected = _expected_users(
            before, method.upper(), path, response.status_code, body, case.body, case.path_parameters or {}
        )
        assert _users(db, rec) == expected, f"the database does not hold what the answer says ({response.status_code})"

    run()


def test_report_fuzz_statistics():
    """Runs after the fuzzing above: the answers seen, by operation, mode and status."""
    path = write_report("fuzz", {"examples_per_operation_and_mode": EXAMPLES, "answers": dict(sorted(STATS.items()))})
    print(f"\nfuzz: {sum(STATS.values())} requests ({path})")
    assert sum(STATS.values()) > 0
