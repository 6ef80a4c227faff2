"""The locks agree with what they lock: every declared requirement is pinned in its lock at a
version the declaration allows, the image locks pin exactly the versions the tests run (the dev
lock), and .venv holds the dev lock. `make lock` rewrites the locks; this says when to run it."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = ROOT / "requirements-dev.lock.txt"
IMAGES = {"recognizer": ROOT / "recognizer", "ui": ROOT / "ui"}
HINT = "the lock is out of date: run `make lock`"


def pins(lock: Path) -> dict[str, str]:
    """name -> version of every `name==version` line of a pip-compile lock."""
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock.read_text(), re.M)
    return {canonicalize_name(name): version for name, version in found}


def declared(pyproject: Path) -> list[Requirement]:
    return [Requirement(r) for r in tomllib.loads(pyproject.read_text())["project"].get("dependencies", [])]


def requirements_txt() -> list[Requirement]:
    lines = (ROOT / "requirements-test.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def _check(requirements: list[Requirement], lock: Path) -> None:
    locked = pins(lock)
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is declared but not in {lock.name}: {HINT}"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"{lock.name} pins {name}=={locked[name]}, outside {req}: {HINT}"
        )


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_image_lock_satisfies_its_pyproject(image: str) -> None:
    _check(declared(IMAGES[image] / "pyproject.toml"), IMAGES[image] / "requirements.lock.txt")


def test_dev_lock_satisfies_every_declaration() -> None:
    every = [r for folder in IMAGES.values() for r in declared(folder / "pyproject.toml")]
    _check(every + requirements_txt(), DEV_LOCK)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_image_ships_the_versions_the_tests_run(image: str) -> None:
    dev = pins(DEV_LOCK)
    differ = {n: (v, dev.get(n)) for n, v in pins(IMAGES[image] / "requirements.lock.txt").items() if dev.get(n) != v}
    assert not differ, f"{image}'s lock differs from the dev lock (image, dev): {differ}: {HINT}"


def test_venv_holds_the_dev_lock() -> None:
    wrong = {}
    for name, version in pins(DEV_LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f".venv differs from requirements-dev.lock.txt (locked, installed): {wrong}; run `make venv`"


def test_a_lock_out_of_date_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a declaration the lock does not satisfy is reported."""
    lock = tmp_path / "requirements.lock.txt"
    lock.write_text("numpy==1.0.0\n")
    with pytest.raises(AssertionError, match="make lock"):
        _check([Requirement("numpy>=1.26")], lock)
    with pytest.raises(AssertionError, match="not in"):
        _check([Requirement("pillow>=10")], lock)
