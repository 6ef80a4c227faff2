"""Fixtures of the recognizer's HTTP tests (helpers live in facefleet_testing.recognizer_api)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from facefleet_testing.stack import RecognizerServer


@pytest.fixture()
def api(recognizer_server: RecognizerServer) -> Iterator[httpx.Client]:
    """An httpx client on the session's shared recognizer (no API key header by default)."""
    with recognizer_server.client() as c:
        yield c
