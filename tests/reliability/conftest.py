"""Fixtures of the reliability tests: recognizers of their own on the session database.

Tests here stop servers, fill up memory on purpose, or count every stored document, so they
never use the shared `recognizer_server`: they use `own_recognizer` (default settings, a fresh
database name on the session's `database_server`), or start one with special settings, or a
fresh database server where the database itself is killed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from facefleet_testing.stack import DatabaseServer, RecognizerServer


@pytest.fixture(scope="session")
def own_recognizer(
    database_server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RecognizerServer]:
    """One recognizer (default settings but no identify limit) for the modules that need nothing special
    (its own database name; never the session's shared `recognizer_server`)."""
    # The per-client identify limit is proven in test_abuse.py; here every test talks from 127.0.0.1,
    # so fuzzed no_match identifies must not lock later modules' requests out.
    env = {"FACEFLEET_IDENTIFY_RATE_FAILURES": "0"}
    with RecognizerServer.start_new(database_server.url, tmp_path_factory.mktemp("rel-rec"), env) as rec:
        yield rec
