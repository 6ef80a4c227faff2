"""The ui's recognizer client against a recognizer that stalls (SIGSTOP), then comes back (SIGCONT).

The ui's own tests prove the page shows a banner (not a traceback) when its client raises
`Unavailable`, and a browser test covers a stopped recognizer. This adds the slow case with the
real client and a real, frozen server: the call gives up within the ui's configured timeout with
`Unavailable` (never hangs, never another exception), and the same client works once it is back.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from facefleet_testing.recognizer_api import img, new_username


def test_ui_client_gives_up_in_time_on_a_stalled_recognizer_and_recovers(own_recognizer):
    client_mod = pytest.importorskip("facefleet_ui.client")
    config = pytest.importorskip("facefleet_ui.config")
    rec = own_recognizer
    settings = config.load({"RECOGNIZER_URL": rec.url, "FACEFLEET_API_KEY": rec.api_key})  # shipped timeouts
    timeout_s = settings.request_timeout_s
    client = client_mod.RecognizerClient(settings)
    name = new_username("stall")
    try:
        assert client.enrol(name, [img("hopper")]) == 1
        os.kill(rec.proc.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            with pytest.raises(client_mod.Unavailable):
                client.login(img("hopper2"), name)
            waited = time.monotonic() - start
            assert waited < timeout_s + 3, f"the ui waited {waited:.1f} s on a stalled recognizer"
            assert client.ready() is False
        finally:
            os.kill(rec.proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while not client.ready() and time.monotonic() < deadline:
            time.sleep(0.3)
        for attempt in range(3):  # the same client, no restart (the ui retries after Unavailable too)
            try:
                ok = client.login(img("hopper2"), name)
                break
            except client_mod.Unavailable:
                if attempt == 2:
                    raise
        assert ok.username == name and ok.token
        print(
            f"\nui client on a stalled recognizer: Unavailable after {waited:.2f} s (timeout {timeout_s} s), "
            "then logged in once it was back"
        )
    finally:
        client.close()
        with rec.client() as c:
            c.delete(f"/v1/users/{name}", headers=rec.headers)
