"""Settings from the environment, and `serve` refusing to start without what it needs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from facefleet_testing.stack import ROOT, free_port
from recognizer import settings_table
from recognizer.config import ConfigError, Settings
from recognizer.faces import metric

SECRETS = {"FACEFLEET_API_KEY": "k" * 16, "FACEFLEET_TOKEN_SECRET": "t" * 16, "FACEFLEET_EMBEDDING_KEY": "e" * 16}


def test_defaults():
    s = Settings.from_env({})
    assert s.mongo_url == "mongodb://127.0.0.1:27017/" and s.threshold == metric.DEFAULT_THRESHOLD
    assert (s.lockout_failures, s.lockout_window_s, s.lockout_s) == (5, 300, 300)
    assert s.max_image_bytes == 10 * 1024 * 1024 and s.min_face_px == 48 and s.db_timeout_ms <= 3000


def test_overrides():
    s = Settings.from_env(
        {
            "MONGO_URL": "mongodb://db:27017/",
            "FACEFLEET_THRESHOLD": "0.5",
            "FACEFLEET_LOCKOUT_S": "60",
            "FACEFLEET_TOKEN_TTL_S": "120",
            **SECRETS,
        }
    )
    assert (s.mongo_url, s.threshold, s.lockout_s, s.token_ttl_s) == ("mongodb://db:27017/", 0.5, 60, 120)
    s.check_secrets()


def test_model_processes_auto_follows_the_usable_cpus(monkeypatch):
    from recognizer import config

    assert 1 <= config.usable_cpus() <= (os.cpu_count() or 1)
    for cpus, expected in ((1, 0), (2, 2), (4, 4)):
        monkeypatch.setattr(config, "usable_cpus", lambda cpus=cpus: cpus)
        assert Settings.from_env({}).model_processes == expected
        assert Settings.from_env({"FACEFLEET_MODEL_PROCESSES": "auto"}).model_processes == expected
    assert Settings.from_env({"FACEFLEET_MODEL_PROCESSES": "0"}).model_processes == 0
    assert Settings.from_env({"FACEFLEET_MODEL_PROCESSES": "3"}).model_processes == 3


def test_trusted_proxies_default_to_none():
    assert Settings.from_env({}).trusted_proxies == ()
    proxies = Settings.from_env({"FACEFLEET_TRUSTED_PROXIES": " 10.42.0.0/16, 127.0.0.1 ,fd00::1"}).trusted_proxies
    assert [str(net) for net in proxies] == ["10.42.0.0/16", "127.0.0.1/32", "fd00::1/128"]


def test_the_readme_settings_table_is_the_declaration():
    """recognizer/README.md's table is `python -m recognizer.settings_table`'s output, row for row."""
    table = settings_table.markdown()
    readme = (ROOT / "recognizer" / "README.md").read_text()
    assert table in readme, "regenerate it: .venv/bin/python -m recognizer.settings_table --update recognizer/README.md"
    names = [Settings.env_name(f) for f in Settings.model_fields]
    assert all(info.description for info in Settings.model_fields.values())
    assert names[0] == "MONGO_URL" and all(n.startswith("FACEFLEET_") for n in names[1:])
    documented = [
        line.split("`")[1]
        for line in readme.splitlines()
        if line.startswith("| `") and line.split("`")[1].startswith(("FACEFLEET_", "MONGO_URL"))
    ]
    assert sorted(set(documented) & set(names)) == sorted(names)


def test_settings_are_read_from_the_process_environment(monkeypatch):
    monkeypatch.setenv("FACEFLEET_LOCKOUT_S", "77")
    monkeypatch.setenv("MONGO_URL", "mongodb://elsewhere:27017/")
    s = Settings.from_env()
    assert (s.lockout_s, s.mongo_url) == (77, "mongodb://elsewhere:27017/")
    assert Settings.from_env({}).lockout_s == 300  # a given mapping is all there is


def test_password_without_user_is_refused():
    with pytest.raises(ConfigError, match="FACEFLEET_DB_PASSWORD is set without FACEFLEET_DB_USERNAME"):
        Settings.from_env({"FACEFLEET_DB_PASSWORD": "pw"})


@pytest.mark.parametrize(
    "env",
    [
        {"FACEFLEET_DB_TIMEOUT_MS": "5000"},
        {"FACEFLEET_LOCKOUT_S": "soon"},
        {"FACEFLEET_THRESHOLD": "x"},
        {"FACEFLEET_MIN_FACE_PX": "0"},
        {"FACEFLEET_MODEL_PROCESSES": "-1"},
        {"FACEFLEET_MODEL_PROCESSES": "many"},
        {"FACEFLEET_TRUSTED_PROXIES": "10.42.0.0/16,ingress"},
        {"FACEFLEET_DETECTOR": "retina"},
        {"FACEFLEET_LOG_LEVEL": "loud"},
        {"FACEFLEET_INDEX_REFRESH_S": "0"},
    ],
)
def test_bad_values_name_the_variable(env):
    with pytest.raises(ConfigError, match=next(iter(env))):
        Settings.from_env(env)


@pytest.mark.parametrize("missing", list(SECRETS))
def test_secrets_required(missing):
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env({**SECRETS, missing: "short"}).check_secrets()


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FACEFLEET_")}
    return subprocess.run(
        [sys.executable, "-m", "recognizer", "serve", "--port", str(free_port())],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_previous_embedding_key_is_optional_but_never_short():
    Settings.from_env(SECRETS).check_secrets()
    with pytest.raises(ConfigError, match="FACEFLEET_EMBEDDING_KEY_PREVIOUS"):
        Settings.from_env({**SECRETS, "FACEFLEET_EMBEDDING_KEY_PREVIOUS": "short"}).check_secrets()


def test_serve_refuses_to_start_without_secrets():
    out = _serve({"DEEPFACE_HOME": str(ROOT / ".cache" / "deepface")})
    assert out.returncode == 2 and "FACEFLEET_API_KEY" in out.stderr


def test_serve_refuses_to_start_without_weights(tmp_path, monkeypatch, capsys):
    """Nothing seeded and the package without its models: exit 2 with the fix, before binding a port."""
    from recognizer import cli, weights

    for name, value in {**SECRETS, "DEEPFACE_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(weights, "_package_models_dir", lambda: tmp_path / "no-package")
    assert cli.main(["serve", "--port", str(free_port())]) == 2
    assert "make weights" in capsys.readouterr().err
