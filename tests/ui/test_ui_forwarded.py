"""Both sides of the per-client 1:N limit behind the ui: the ui's client names the browser in
X-Forwarded-For, and a recognizer that trusts the ui counts each browser apart."""

from __future__ import annotations

from facefleet_testing.recognizer_api import img
from facefleet_testing.stack import RecognizerServer
from facefleet_ui import config
from facefleet_ui.client import RecognizerClient, RecognizerError


def _identify(client: RecognizerClient, address: str) -> str:
    try:
        client.login(img("hopper"), client_address=address)
    except RecognizerError as exc:
        return exc.code
    return "ok"


def test_each_browser_has_its_own_identify_budget(database_server, tmp_path):
    env = {
        "FACEFLEET_TRUSTED_PROXIES": "127.0.0.1",
        "FACEFLEET_IDENTIFY_RATE_FAILURES": "2",
        "FACEFLEET_IDENTIFY_RATE_WINDOW_S": "60",
    }
    with RecognizerServer.start_new(database_server.url, tmp_path / "rec", env) as rec:  # nobody enrolled
        client = RecognizerClient(config.load(env={"RECOGNIZER_URL": rec.url}))
        try:
            assert [_identify(client, "203.0.113.1") for _ in range(3)] == ["no_match", "no_match", "locked_out"]
            assert _identify(client, "203.0.113.2") == "no_match"  # another browser is not locked out
        finally:
            client.close()
    untrusting = {k: v for k, v in env.items() if k != "FACEFLEET_TRUSTED_PROXIES"}
    with RecognizerServer.start_new(database_server.url, tmp_path / "rec2", untrusting) as rec:
        client = RecognizerClient(config.load(env={"RECOGNIZER_URL": rec.url}))
        try:  # a recognizer that does not trust the ui counts the ui: the header alone changes nothing
            codes = [_identify(client, f"203.0.113.{i}") for i in range(3)]
            assert codes == ["no_match", "no_match", "locked_out"]
        finally:
            client.close()
