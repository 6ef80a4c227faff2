"""The rehearsal's clusters for the scenario in this folder: started once for the module, stopped
after it (unless REHEARSAL_KEEP=1, as `make rehearsal KEEP=1` sets), logs kept either way."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from tools.rehearsal import procs
from tools.rehearsal import stack as rehearsal_stack
from tools.rehearsal.layout import ARTIFACTS, BIN, FLEET_CLI
from tools.rehearsal.report import Report

KEEP = os.environ.get("REHEARSAL_KEEP", "") not in ("", "0")


@pytest.fixture(scope="module")
def report() -> Report:
    rep = Report()
    yield rep
    rep.write(ARTIFACTS)


@pytest.fixture(scope="module")
def stack(report: Report):
    missing = [
        p.name
        for p in (
            BIN / "kube-apiserver",
            BIN / "etcd",
            BIN / "kwok",
            BIN / "fleetcontroller",
            BIN / "fleetagent",
            FLEET_CLI,
        )
        if not p.exists()
    ]
    if missing:
        pytest.fail(f"rehearsal engines missing ({', '.join(missing)}): run `make rehearsal-engines`")
    started = time.monotonic()
    stop = threading.Event()

    def sample() -> None:  # peak memory of every rehearsal process together, every 2 s
        while not stop.wait(2):
            report.sample_rss()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        st = rehearsal_stack.up()
    except Exception:
        stop.set()
        rehearsal_stack.collect_logs()
        rehearsal_stack.down()
        raise
    report.meta["up_s"] = round(time.monotonic() - started, 1)
    yield st
    stop.set()
    sampler.join()
    rehearsal_stack.collect_logs()
    if KEEP:
        print("\nrehearsal left running:", json.dumps(procs.running()))
    else:
        rehearsal_stack.down()
