"""Fixtures of the reliability tests: recognizers of their own on the session database.

Tests here stop servers, fill up memory on purpose, or count every stored document, so they
never use the shared `recognizer_server`; each module starts its own (a fresh database name on
the session's `database_server`, or a fresh database server where the database itself is killed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.stack import DatabaseServer, RecognizerServer


def start_recognizer(db: DatabaseServer, workdir: Path, **env: str) -> RecognizerServer:
    """A recognizer of its own on `db`, with FACEFLEET_* overrides (e.g. FACEFLEET_LOCKOUT_S="2")."""
    return RecognizerServer.start_new(db.url, workdir, {k: str(v) for k, v in env.items()})


@pytest.fixture(scope="module")
def own_recognizer(database_server: DatabaseServer,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecognizerServer]:
    """A recognizer for this module only (default settings, its own database name)."""
    with start_recognizer(database_server, tmp_path_factory.mktemp("rel-rec")) as rec:
        yield rec
