"""Short-lived TURN credentials against a real coturn (Debian's), started with the turn chart's own
arguments on 127.0.0.1: a credential the ui mints allocates a relay; an expired, forged or fixed
one is refused."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from turn_client import allocate

from facefleet_testing.stack import free_port
from facefleet_ui import config, turn

SECRET = "rehearsal-shared-secret-0123456789abcdef"


def _free_udp_range(n: int) -> int:
    for start in range(41000, 60000, 50):
        socks = []
        try:
            for port in range(start, start + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP range")


def _chart_args(port: int, relay_start: int, tmp) -> list[str]:
    """coturn's arguments from the edge render of apps/turn, bound to this host's loopback."""
    from tools.gitops.render import render_worktree

    objs = render_worktree().objects["edge"]["turn"]
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--use-auth-secret" in args and "--static-auth-secret=$(TURN_SECRET)" in args
    local = {
        "--listening-port": str(port),
        "--min-port": str(relay_start),
        "--max-port": str(relay_start + 9),
        "--pidfile": str(tmp / "turnserver.pid"),
        "--userdb": str(tmp / "turndb"),
    }
    out = []
    for arg in args:
        name = arg.split("=", 1)[0]
        if name == "--external-ip":
            continue
        out.append(f"{name}={local[name]}" if name in local else arg.replace("$(TURN_SECRET)", SECRET))
    return out + ["--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"]


@pytest.fixture()
def coturn(tmp_path):
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn missing: `make apt` installs it")
    port = free_port()
    proc = subprocess.Popen(
        [binary, *_chart_args(port, _free_udp_range(10), tmp_path)],
        stdout=(tmp_path / "coturn.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:  # up when an unauthenticated Allocate gets its 401 challenge
            try:
                if allocate("127.0.0.1", port, "x", "y", timeout=0.5) == 401:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError((tmp_path / "coturn.log").read_text()[-2000:])
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_minted_credentials_allocate_and_expired_or_forged_ones_do_not(coturn):
    settings = config.load(
        env={
            "FACEFLEET_TURN_URLS": f"turn:127.0.0.1:{coturn}?transport=udp",
            "FACEFLEET_TURN_SECRET": SECRET,
            "FACEFLEET_TURN_TTL_S": "600",
        }
    )
    fresh = turn.mint(settings.turn_secret, settings.turn_urls, settings.turn_ttl_s, time.time())
    assert fresh.ice_server()["urls"] == [f"turn:127.0.0.1:{coturn}?transport=udp"]
    assert allocate("127.0.0.1", coturn, fresh.username, fresh.credential) == 200
    expired = turn.mint(SECRET, settings.turn_urls, 60, time.time() - 120)
    assert allocate("127.0.0.1", coturn, expired.username, expired.credential) == 401
    forged = turn.mint("another-secret-0123456789", settings.turn_urls, 600, time.time())
    assert allocate("127.0.0.1", coturn, forged.username, forged.credential) == 401
    stretched = f"{int(time.time()) + 10 * 365 * 86400}:facefleet"  # a far expiry, signed by nobody
    assert allocate("127.0.0.1", coturn, stretched, fresh.credential) == 401
    assert allocate("127.0.0.1", coturn, "facefleet", SECRET) == 401  # the secret is no password


def test_turn_settings_go_together():
    with pytest.raises(config.ConfigError):
        config.load(env={"FACEFLEET_TURN_SECRET": SECRET})
    with pytest.raises(config.ConfigError):
        config.load(env={"FACEFLEET_TURN_URLS": "stun:127.0.0.1:3478", "FACEFLEET_TURN_SECRET": SECRET})
    with pytest.raises(config.ConfigError):
        config.load(
            env={"FACEFLEET_TURN_URLS": "turn:h:3478", "FACEFLEET_TURN_SECRET": SECRET, "FACEFLEET_TURN_TTL_S": "5"}
        )
