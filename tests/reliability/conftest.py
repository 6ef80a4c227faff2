"""Fixtures of the reliability tests: recognizers of their own on the session database.

Tests here stop servers, fill up memory on purpose, or count every stored document, so they
never use the shared `recognizer_server`; each module starts its own (a fresh database name on
the session's `database_server`, or a fresh database server where the database itself is killed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.stack import DatabaseServer, RecognizerServer


@pytest.fixture(scope="module")
def own_recognizer(database_server: DatabaseServer,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecognizerServer]:
    """A recognizer for this module only (default settings, its own database name)."""
    with RecognizerServer.start_new(database_server.url, tmp_path_factory.mktemp("rel-rec")) as rec:
        yield rec
