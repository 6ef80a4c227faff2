"""The batching that keeps a host to a few ssh round trips: every command's exit status, stdout
and stderr come back intact, whatever a login shell prints around them."""

from __future__ import annotations

import subprocess

from tools.nodecheck.model import Output
from tools.nodecheck.runner import batch_script, parse_batch

COMMANDS = ["printf 'a b\\nc'", "echo oops >&2; exit 3", "printf 'caf\\303\\251'", "cat /nonexistent/file", "true"]


def test_batch_round_trip_with_noise():
    script = batch_script(COMMANDS, "nodecheck-t0ken")
    run = subprocess.run(["sh", "-c", "echo 'motd: welcome'; " + script], capture_output=True, text=True, timeout=30)
    outputs = parse_batch("noise from .bashrc\n" + run.stdout, len(COMMANDS), "nodecheck-t0ken")
    assert outputs is not None
    assert outputs[0] == Output(0, "a b\nc", "")
    assert outputs[1] == Output(3, "", "oops\n")
    assert outputs[2] == Output(0, "café", "")
    assert outputs[3].rc != 0 and "/nonexistent/file" in outputs[3].stderr
    assert outputs[4] == Output(0, "", "")


def test_incomplete_batch_is_rejected():
    script = batch_script(COMMANDS, "nodecheck-t0ken")
    run = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    cut = run.stdout[: run.stdout.rindex("nodecheck-t0ken 4 ")]
    assert parse_batch(cut, len(COMMANDS), "nodecheck-t0ken") is None
    assert parse_batch(run.stdout, len(COMMANDS), "other-token") is None


def test_reachable_explains_a_sudo_password_prompt_and_an_odd_shell():
    from tools.nodecheck.inventory import NodeSpec
    from tools.nodecheck.runner import check_reachable

    node = NodeSpec(name="pi", address="ssh://pi@10.0.3.21", group="edge", sudo=True)
    f = check_reachable(
        node, lambda c: Output(1, "", "sudo: a terminal is required to read the password; either use the -S option\n")
    )
    assert f.message == (
        "reachable: found ssh://pi@10.0.3.21 refusing sudo (sudo: a terminal is required to read "
        "the password; either use the -S option), expected commands to run through sudo without "
        "a password; fix: allow the user passwordless sudo (NOPASSWD) or log in as root."
    )
    f = check_reachable(node, lambda c: Output(0, "This account is currently not available.\n"))
    assert f.status == "fail" and "answering 'This account is currently not available.'" in f.message
    assert check_reachable(node, lambda c: Output(0, "nodecheck-ok\n")).status == "pass"
