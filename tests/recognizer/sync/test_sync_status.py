"""A replica's staleness, from the status it stores in its own database (no home needed)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from facefleet_testing.stack import DatabaseServer
from recognizer.config import Settings
from recognizer.errors import FacefleetError
from recognizer.index import EmbeddingIndex
from recognizer.storage import EmbeddingCipher, Repository
from recognizer.sync.client import HomeClient
from recognizer.sync.replicator import Replicator


def test_staleness_follows_the_last_successful_sync_not_the_cursor(database_server: DatabaseServer) -> None:
    settings = Settings(
        site="edge-1",
        home_url="http://127.0.0.1:9",  # never dialled here
        sync_credential="ffs1.edge-1.not-used",
        replica_max_staleness_s=60,
    )
    repo = Repository(database_server.url, "t_" + secrets.token_hex(4), EmbeddingCipher("k" * 16))
    replicator = Replicator(settings, repo, EmbeddingIndex(repo), HomeClient(settings))
    try:
        with pytest.raises(FacefleetError, match="first copy") as never:
            replicator.check_fresh()
        assert never.value.code == "replica_stale" and replicator.status().stale

        repo.replica.save_synced(cursor=7, head=7)
        replicator.wait_for(7, 1)  # re-reads the stored status
        assert not replicator.status().stale
        replicator.check_fresh()

        # A re-copy drops the cursor while it runs: the users it has are still served within the bound.
        repo.replica.begin_copy()
        replicator.wait_for(0, 0)
        status = replicator.status()
        assert status.changes_behind is None and not status.stale
        replicator.check_fresh()

        # Past the bound, logins are refused.
        old = datetime.now(UTC) - timedelta(seconds=61)
        repo.replica.state.update_one({"_id": "sync"}, {"$set": {"synced_at": old}})
        replicator.wait_for(0, 0)
        with pytest.raises(FacefleetError, match="has not synced with the home for 6[0-9] s"):
            replicator.check_fresh()
    finally:
        replicator.client.close()
        repo.close()
