"""Shared helpers for the tests: faces that ship inside PyPI packages, paths to ../shared."""
