"""Embedding-key rotation as an operator runs it (clusters/README.md), against a real database.

1. The recognizers restart with the new key in FACEFLEET_EMBEDDING_KEY and the old one in
   FACEFLEET_EMBEDDING_KEY_PREVIOUS: every user still logs in (1:1 and 1:N); new writes use the
   new key.
2. `python -m recognizer rekey` re-encrypts what only the old key opens (a second run finds nothing).
3. The recognizers restart without the previous key: every user still logs in.
Without step 2, step 3 would lock every user out: the test shows that too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from facefleet_testing.recognizer_api import assert_error, enrol, login, new_username
from facefleet_testing.stack import RecognizerServer
from recognizer.storage import EmbeddingCipher, RekeyReport, Repository

OLD, NEW, OTHER = "old-embedding-key-0123456789", "new-embedding-key-0123456789", "other-key-0123456789abcd"


def rekey(rec: RecognizerServer) -> tuple[int, dict | None, str]:
    env = rec.process_env()
    out = subprocess.run(
        [sys.executable, "-m", "recognizer", "rekey"],
        env=env,
        cwd=rec.workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = out.stdout.strip().splitlines()
    return out.returncode, json.loads(lines[-1]) if lines else None, out.stderr


def test_rotation_keeps_every_user_logging_in(database_server, tmp_path):
    alice, bob = new_username("rot"), new_username("rot")
    with RecognizerServer.start_new(database_server.url, tmp_path / "rec", {"FACEFLEET_EMBEDDING_KEY": OLD}) as rec:
        with rec.client() as c:
            enrol(c, rec, alice, "astronaut")
        # 1. new key, old key kept for reading
        rec.env.update(FACEFLEET_EMBEDDING_KEY=NEW, FACEFLEET_EMBEDDING_KEY_PREVIOUS=OLD)
        rec.restart()
        with rec.client() as c:
            assert login(c, "astronaut2", alice).status_code == 200
            assert login(c, "astronaut2").json()["username"] == alice  # the 1:N index loaded it
            enrol(c, rec, bob, "hopper")  # written with the new key
        # 2. re-encrypt, twice
        code, report, err = rekey(rec)
        assert code == 0, err
        assert report == {"users": 2, "rekeyed": 1, "already_current": 1, "unreadable": 0, "changed_meanwhile": 0}
        assert rekey(rec)[1]["rekeyed"] == 0
        # 3. the old key is gone
        del rec.env["FACEFLEET_EMBEDDING_KEY_PREVIOUS"]
        rec.restart()
        with rec.client() as c:
            assert login(c, "astronaut2", alice).status_code == 200
            assert login(c, "hopper2").json()["username"] == bob


def test_dropping_the_old_key_without_rekey_locks_users_out(database_server, tmp_path):
    alice = new_username("rot")
    with RecognizerServer.start_new(database_server.url, tmp_path / "rec", {"FACEFLEET_EMBEDDING_KEY": OLD}) as rec:
        with rec.client() as c:
            enrol(c, rec, alice, "astronaut")
        rec.env["FACEFLEET_EMBEDDING_KEY"] = NEW
        rec.restart()
        with rec.client() as c:
            assert_error(login(c, "astronaut2", alice), 401, "no_match")
        code, report, err = rekey(rec)  # nothing it can do without the old key: it says so and fails
        assert code == 1 and report["unreadable"] == 1 and "FACEFLEET_EMBEDDING_KEY_PREVIOUS" in err


def test_rekey_leaves_unreadable_and_concurrently_changed_users_alone(database_server, monkeypatch):
    name = "t_rekey_" + os.urandom(3).hex()
    m = np.random.default_rng(1).normal(size=(2, 128)).astype(np.float32)
    Repository(database_server.url, name, EmbeddingCipher(OLD)).create_user("alice", m, model="Dlib", consent=True)
    Repository(database_server.url, name, EmbeddingCipher(OTHER)).create_user("eve", m, model="Dlib", consent=True)
    repo = Repository(database_server.url, name, EmbeddingCipher(NEW, previous=[OLD]))
    eve_before = repo.users.find_one({"_id": "eve"})

    # another writer bumps alice's revision between rekey's read and its write: rekey must not overwrite it
    real_update = repo.users.update_one

    def racing_update(filter, update, *args, **kwargs):
        repo.users.database["users"].update_one({"_id": filter["_id"]}, {"$inc": {"rev": 1}})
        return real_update(filter, update, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(repo.users, "update_one", racing_update)
        report = repo.rekey_users()
    assert report == RekeyReport(users=2, rekeyed=0, already_current=0, unreadable=1, changed_meanwhile=1)
    assert repo.users.find_one({"_id": "eve"}) == eve_before  # untouched
    report = repo.rekey_users()  # the re-run the CLI asks for
    assert (report.rekeyed, report.unreadable, report.changed_meanwhile) == (1, 1, 0)
    got = {u: e for u, _, _, e in Repository(database_server.url, name, EmbeddingCipher(NEW)).all_embeddings()}
    assert set(got) == {"alice"} and np.array_equal(got["alice"], m)
