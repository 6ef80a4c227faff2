"""Fixtures shared by every area's tests."""

# Real database + recognizer subprocesses (see facefleet_testing.stack for the classes and usage).
from facefleet_testing.stack import database_server, recognizer_server  # noqa: F401
