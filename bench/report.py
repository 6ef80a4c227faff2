"""Rewrite the results tables of bench/README.md from bench/results/*.json (`make bench-report`).

Only the text between `<!-- results:start -->` and `<!-- results:end -->` is replaced, so the
prose around it (analysis, what limits a number) stays hand-written. A suite that has not run
yet shows as such; every table says which git revision and machine produced it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.harness import RESULTS, ROOT

README = ROOT / "bench" / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def load(name: str, results: Path = RESULTS) -> dict[str, Any] | None:
    p = results / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def ci(c: list[float] | None) -> str:
    return "" if not c else f" [{100 * c[0]:.1f}, {100 * c[1]:.1f}]"


def ms(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f} ms" if x >= 10 else f"{x:.2f} ms"


def _x(r: float | None, what: str) -> str:
    return "–" if r is None else f"{r}x {what}"


def status(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def provenance(d: dict[str, Any]) -> str:
    m = d["machine"]
    return (
        f"<sub>{d['suite']}: git {d['git_rev']}, {d['finished_at']}, {m['cores']} cores {m['cpu_model']}, "
        f"load average at start {m.get('load_avg_at_start')}, deepface {d['versions'].get('deepface')}, "
        f"dlib-bin {d['versions'].get('dlib-bin')}{' (TINY RUN)' if d.get('tiny') else ''}</sub>"
    )


def headline(acc, lat, ide, lod, mem) -> list[str]:
    rows = ["| measure | facefleet | baseline | ratio | target | status |", "|---|---|---|---|---|---|"]
    if lat:
        r = lat["by_resolution"].get("640x480") or next(iter(lat["by_resolution"].values()))
        rows.append(
            f"| warm login p50, 640x480 (HTTP vs `DeepFace.verify`) | {ms(r['http']['p50_ms'])} | "
            f"{ms(r['verify']['p50_ms'])} | {r['speedup_vs_verify_p50']}x faster | >= 7x | "
            f"{status(r['meets_speedup_target'])} |"
        )
        rows.append(
            f"| warm login p50, 640x480, vs forward pass alone (floor) | {ms(r['http']['p50_ms'])} | "
            f"{ms(r['floor']['p50_ms'])} | {r['http_over_floor_p50']}x the floor | <= 1.3x | "
            f"{status(r['meets_floor_target'])} |"
        )
        rows.append(
            f"| warm login p50, 640x480 | {ms(r['http']['p50_ms'])} | | | <= 45 ms | "
            f"{status(bool(r.get('meets_p50_target')))} |"
        )
        rows.append(
            f"| forward pass per chip: the engine vs dlib's own | {ms(r['floor']['p50_ms'])} | "
            f"{ms(r['dlib_fwd']['p50_ms'])} | {r.get('floor_speedup_vs_dlib_fwd_p50')}x faster | | |"
        )
    if acc:
        f, b = acc["facefleet"], acc["deepface_verify"]
        rows.append(
            f"| LFW DevTest accuracy (95% CI) | {pct(f['devtest']['accuracy'])}{ci(f['devtest']['accuracy_ci'])} | "
            f"{pct(b['devtest']['accuracy'])}{ci(b['devtest']['accuracy_ci'])} | "
            f"{_x(acc['comparison']['devtest_accuracy']['error_rate_ratio_baseline_over_facefleet'], 'fewer errors')}"
            " | "
            f"99% (goal) | {status(f['devtest']['accuracy'] >= 0.99)} |"
        )
        rows.append(
            f"| LFW DevTest TAR @ FAR=1% (95% CI) | {pct(f['devtest']['tar_at_far_1pct'])}"
            f"{ci(f['devtest']['tar_at_far_1pct_ci'])} | {pct(b['devtest']['tar_at_far_1pct'])}"
            f"{ci(b['devtest']['tar_at_far_1pct_ci'])} | | | |"
        )
        fh, bh = f["held_out"], b["held_out"]
        rows.append(
            f"| LFW held-out TAR @ FAR=0.1% ({fh['n_impostor']:,} impostor pairs) | "
            f"{pct(fh.get('tar_at_far_0.1pct'))}{ci(fh.get('tar_at_far_0.1pct_ci'))} | "
            f"{pct(bh.get('tar_at_far_0.1pct'))}{ci(bh.get('tar_at_far_0.1pct_ci'))} | | | |"
        )
    if ide:
        h = {r["users"]: r for r in ide["http"] if "with_n_users" in r}
        i = {r["users"]: r for r in ide["index"]}
        for r in ide["http"]:
            if "with_n_users" not in r:
                rows.append(
                    f"| 1:N identify over HTTP at {r['users']:,} users | failed: "
                    f"{r.get('error', '')[:120]} | | | < 20 ms added at 100,000 | **missed** |"
                )
            elif r.get("answers_with_n_users", {}).keys() - {"200"}:
                bad = sum(v for k, v in r["answers_with_n_users"].items() if k != "200")
                rows.append(
                    f"| 1:N identify over HTTP at {r['users']:,} users: answers other than 200 | {bad} of "
                    f"{sum(r['answers_with_n_users'].values())} | | | 0 | **missed** |"
                )
        if 100_000 in h:
            rows.append(
                f"| 1:N identify, time added per login at 100,000 users (HTTP p50) | "
                f"{ms(h[100_000]['added_p50_ms'])} | | | < 20 ms | {status(ide['meets_target_at_100k'])} |"
            )
        if 100_000 in i:
            rows.append(
                f"| 1:N index search alone at 100,000 users (p50) | {ms(i[100_000]['search']['p50_ms'])} | "
                f"{ms(i[100_000]['full_scan']['p50_ms'])} (plain full scan) | "
                f"{i[100_000]['full_scan_over_search_p50']}x faster | < 20 ms | "
                f"{status(i[100_000]['search']['p50_ms'] < 20)} |"
            )
        for c in ide.get("find_vs_facefleet", []):
            rows.append(
                f"| 1:N login at {c['users']:,} users: facefleet HTTP vs `DeepFace.find` warm (p50) | "
                f"{ms(c['facefleet_http_identify_p50_ms'])} | {ms(c['deepface_find_warm_p50_ms'])} | "
                f"{c['find_over_facefleet']}x faster | | |"
            )
    if lod:
        best = lod["best_at_or_above_cores"] or {}
        rows.append(
            f"| load: throughput at >= {lod['setup']['cores']} clients vs single-request rate x cores | "
            f"{best.get('throughput_per_s')}/s | {lod['ideal_per_s']}/s | {lod['throughput_over_ideal']}x | "
            f">= 0.8x | {status((lod['throughput_over_ideal'] or 0) >= 0.8)} |"
        )
        inp = lod.get("in_process")
        if inp:
            b = inp["best_at_or_above_cores"] or {}
            rows.append(
                f"| load: default (face worker processes) vs pipeline in the server process, best at >= "
                f"{lod['setup']['cores']} clients | {best.get('throughput_per_s')}/s | {b.get('throughput_per_s')}/s | "
                f"{lod['default_over_in_process_at_best']}x | | |"
            )
        rows.append(f"| load: errors | {lod['errors_total']} | | | 0 | {status(lod['errors_total'] == 0)} |")
    if mem:
        rows.append(
            f"| peak RSS of the recognizer under load | {mem['recognizer_peak_mb']} MB | | | < 600 MB | "
            f"{status(mem['meets_target'])} |"
        )
        rows.append(f"| peak RSS of the ui under load | {mem['under_load']['ui']['peak_sampled_mib']} MiB | | | | |")
    return rows


def latency_table(lat) -> list[str]:
    rows = [
        "| probe | HTTP login p50 / p95 | pipeline in-process p50 | `DeepFace.verify` p50 / p95 | forward pass p50 | "
        "verify / HTTP | HTTP / floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for res, r in lat["by_resolution"].items():
        rows.append(
            f"| {res} | {ms(r['http']['p50_ms'])} / {ms(r['http']['p95_ms'])} | {ms(r['pipeline']['p50_ms'])} | "
            f"{ms(r['verify']['p50_ms'])} / {ms(r['verify']['p95_ms'])} | {ms(r['floor']['p50_ms'])} | "
            f"{r['speedup_vs_verify_p50']}x | {r['http_over_floor_p50']}x |"
        )
    return rows


def identify_tables(ide) -> list[str]:
    rows = [
        "| users | index search p50 | full-scan reference p50 | index reload | index arrays | RSS growth |",
        "|---|---|---|---|---|---|",
    ]
    for r in ide["index"]:
        rows.append(
            f"| {r['users']:,} | {ms(r['search']['p50_ms'])} | {ms(r['full_scan']['p50_ms'])} | "
            f"{r['reload_s']} s | {r['matrix_mib'] + r['owners_mib']:.0f} MiB | {r['rss_growth_mib']} MiB |"
        )
    rows += [
        "",
        "| users | HTTP identify p50 (N users) | same with 1 user | added p50 | answers other than 200 "
        "(N users) | recognizer RSS added | start to ready | seeding |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ide["http"]:
        if "with_n_users" not in r:
            rows.append(f"| {r['users']:,} | failed: {r.get('error', '')[-200:]} | | | | | | |")
            continue
        rows.append(
            f"| {r['users']:,} | {ms(r['with_n_users']['p50_ms'])} | {ms(r['base_1_user']['p50_ms'])} | "
            f"{ms(r['added_p50_ms'])} | {_non200(r)} | {r['rss_added_mib']} MiB | {r['start_to_ready_s']} s | "
            f"{r['seed_s']} s |"
        )
    rows += ["", "| images | `DeepFace.find` warm p50 | first call (builds its store) |", "|---|---|---|"]
    for r in ide["deepface_find"]:
        first = f"{r['first_call_s']} s" + (" (store cached)" if r["store_was_cached"] else "")
        rows.append(f"| {r['users']:,} | {ms(r['warm']['p50_ms'])} | {first} |")
    return rows


def _non200(r: dict[str, Any]) -> str:
    a = r.get("answers_with_n_users", {})
    bad = {k.split(" ")[0]: v for k, v in a.items() if k != "200"}
    if not bad:
        return "0"
    return (
        f"{sum(bad.values())} of {sum(a.values())} ({', '.join(f'{v}x {k}' for k, v in bad.items())}); "
        "the added time is then not meaningful"
    )


def load_table(lod) -> list[str]:
    base = {r["concurrency"]: r for r in (lod.get("in_process") or {}).get("levels", [])}
    rows = [
        "| clients | logins/s | p50 | p99 | errors | baseline (pipeline in the server process): logins/s, p50 |",
        "|---|---|---|---|---|---|",
    ]
    for r in lod["levels"]:
        b = base.get(r["concurrency"])
        baseline = f"{b['throughput_per_s']}/s, {ms(b['p50_ms'])}" if b else ""
        rows.append(
            f"| {r['concurrency']} | {r['throughput_per_s']} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | "
            f"{r['errors']} {r['error_kinds'] or ''} | {baseline} |"
        )
    return rows


def accuracy_tables(acc) -> list[str]:
    f, b = acc["facefleet"], acc["deepface_verify"]
    rows = [
        "| | facefleet | `DeepFace.verify` defaults |",
        "|---|---|---|",
        f"| threshold | {f['threshold_chosen_on_devtrain']} Euclidean (chosen on DevTrain; committed default "
        f"{f['committed_default_threshold']}) | {b['threshold']} cosine (its default) |",
        f"| DevTest accuracy | {pct(f['devtest']['accuracy'])}{ci(f['devtest']['accuracy_ci'])} | "
        f"{pct(b['devtest']['accuracy'])}{ci(b['devtest']['accuracy_ci'])} |",
        f"| DevTest FAR / TAR at the threshold | {pct(f['devtest']['far'])} / {pct(f['devtest']['tar'])} | "
        f"{pct(b['devtest']['far'])} / {pct(b['devtest']['tar'])} |",
        f"| DevTest TAR @ FAR=1% | {pct(f['devtest']['tar_at_far_1pct'])}{ci(f['devtest']['tar_at_far_1pct_ci'])} | "
        f"{pct(b['devtest']['tar_at_far_1pct'])}{ci(b['devtest']['tar_at_far_1pct_ci'])} |",
        f"| held-out TAR @ FAR=0.1% | {pct(f['held_out'].get('tar_at_far_0.1pct'))}"
        f"{ci(f['held_out'].get('tar_at_far_0.1pct_ci'))} | {pct(b['held_out'].get('tar_at_far_0.1pct'))}"
        f"{ci(b['held_out'].get('tar_at_far_0.1pct_ci'))} |",
        f"| held-out FAR / TAR at the threshold | {pct(f['held_out']['far'], 3)} / {pct(f['held_out']['tar'])} | "
        f"{pct(b['held_out']['far'], 3)} / {pct(b['held_out']['tar'])} |",
        f"| DevTest images without a detected face | {f['no_face_images_devtest']} (centre box embedded) | "
        f"{b['devtest_pairs_with_no_face']} pairs raised (scored as rejections) |",
    ]
    full = acc.get("facefleet_full_held_out_from_calibration")
    if full and full.get("tar_at_far_0.1pct") is not None:
        rows.append(
            f"| `make calibrate`'s held-out TAR @ FAR=0.1% ({full['impostor_pairs']:,} impostor pairs) | "
            f"{pct(full['tar_at_far_0.1pct'])}{ci(full.get('tar_at_far_0.1pct_ci'))} | |"
        )
    rows += [
        "",
        "| small set | images | identities | genuine / impostor pairs | facefleet acc (TAR / FAR) | "
        "verify acc (TAR / FAR) | facefleet image errors | verify images without face |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in acc["sanity_sets"]:
        ff, bv = s["facefleet"], s["deepface_verify"]
        rows.append(
            f"| {s['set']} | {s['images']} | {s['identities']} | {s['genuine_pairs']} / {s['impostor_pairs']} | "
            f"{pct(ff['accuracy'], 1)} ({pct(ff['tar'], 1)} / {pct(ff['far'], 1)}) | {pct(bv['accuracy'], 1)} "
            f"({pct(bv['tar'], 1)} / {pct(bv['far'], 1)}) | {ff['image_errors'] or 0} | {bv['images_without_face']} |"
        )
    return rows


def memory_table(mem) -> list[str]:
    rows = ["| process | idle RSS | peak RSS under load (sampled) | VmHWM |", "|---|---|---|---|"]
    for k in ("recognizer", "ui", "database"):
        rows.append(
            f"| {k} | {mem['idle_mib'].get(k)} MiB | {mem['under_load'][k]['peak_sampled_mib']} MiB | "
            f"{mem['vm_hwm_mib'].get(k)} MiB |"
        )
    return rows


def engine_table(eng) -> list[str]:
    lat, thr, eq = eng["latency_per_chip"], eng["throughput"], eng["equality"]
    rows = ["| forward pass | p50 per chip | p95 | vs dlib's own (p50) |", "|---|---|---|---|"]
    for name, row in lat.items():
        if isinstance(row, dict) and "p50_ms" in row:
            speedup = lat.get(f"speedup_{name}_vs_dlib")
            rows.append(
                f"| {name} | {ms(row['p50_ms'])} | {ms(row['p95_ms'])} | {f'{speedup}x' if speedup else '1x'} |"
            )
    rows += ["", "| batch | dlib images/s | ONNX images/s | ratio |", "|---|---|---|---|"]
    for size, row in thr.items():
        rows.append(f"| {size} | {row['dlib_images_per_s']} | {row['onnx_images_per_s']} | {row['ratio']}x |")
    rows += [
        "",
        f"Equality on {eq['images']} {eq['source']} images: largest distance between the engines' descriptors "
        f"{eq['max_distance']:.2e} (p99 {eq['p99_distance']:.2e}, tolerance {eq['tolerance']:g}); "
        f"{eq['over_tolerance']} over the tolerance.",
    ]
    return rows


def enrolment_table(ea) -> list[str]:
    v, r, c = ea["verification"], ea["refusals"], ea["counts"]
    rows = ["| enrol 3, log in with another | result |", "|---|---|"]
    rows.append(
        f"| people / enrolled faces / probes / impostor comparisons | {c['people_enrolled']} / "
        f"{c['enrolled_faces']} / {c['probes']} / {v['impostor_comparisons']} |"
    )
    for key, label in (
        ("at_far_0.1pct", "TAR @ FAR 0.1%"),
        ("at_far_1pct", "TAR @ FAR 1%"),
        ("at_committed_threshold", "at the committed threshold"),
    ):
        row = v[key]
        rows.append(
            f"| {label} (threshold {row['threshold']:.3f}) | TAR {pct(row['tar'])}"
            f"{ci(row.get('tar_bootstrap_ci') or row.get('tar_ci'))}, end to end {pct(row['tar_end_to_end'])}, "
            f"FAR {pct(row['far'])} |"
        )
    for kind in ("enrolment_images", "probes"):
        kinds = ", ".join(f"{k} {n}" for k, n in r[kind]["by_kind"].items()) or "none"
        rows.append(
            f"| refused {kind.replace('_', ' ')} | {r[kind]['refused']}/{r[kind]['images']} "
            f"({pct(r[kind]['rate'])}: {kinds}) |"
        )
    ident = ea.get("identify") or ea.get("identification")
    if ident:
        rows.append(f"| 1:N rank-1 (gallery of {ident['gallery_people']}) | {pct(ident['rank1_rate'])} |")
        rows.append(
            f"| 1:N: strangers accepted as someone at the threshold | {pct(ident['open_set_false_accept_rate'])} "
            f"({ident['open_set_false_accepts']}/{ident['open_set_probes_embedded']}) |"
        )
    return rows


def sync_table(sy) -> list[str]:
    pr, idle = sy["propagation"], sy["idle"]
    rows = ["| fleet-wide users | result | goal |", "|---|---|---|"]
    rows.append(
        f"| propagation, home commit -> first login at the replica (n={pr['n']}) | p50 {pr['p50_s']} s, "
        f"p95 {pr['p95_s']} s ({pr['p95_over_interval']}x the {pr['poll_interval_s']:g} s poll interval) | "
        f"p95 <= {pr['goal_p95_s']:g} s {status(pr['p95_s'] <= pr['goal_p95_s'])} |"
    )
    rows.append(
        f"| idle cost, no changes | {idle['requests_per_min']} requests/min, {idle['bytes_received_per_min']:.0f} "
        f"bytes/min received ({idle['bytes_per_request']} bytes per answer) | one small request per poll |"
    )
    rows += [
        "",
        "| changes while offline | replay the changes | full copy | replay / copy | chosen |",
        "|---|---|---|---|---|",
    ]
    for row in sy["catch_up"]:
        r, c = row["replay"], row["copy"]
        rows.append(
            f"| {row['changes']} (then {c['users_after']} users) | "
            f"{r['seconds']} s, {r['bytes_received'] / 1e6:.2f} MB | "
            f"{c['seconds']} s, {c['bytes_received'] / 1e6:.2f} MB | {row['replay_over_copy']}x | {row['chosen']} |"
        )
    ok = all(ch["consistent"] for ch in sy["consistency"])
    rows += [
        "",
        f"Consistency after each of {len(sy['consistency'])} phases (replica vs home, byte for byte): "
        + (
            "every phase equal, nothing missing, extra, different or resurrected."
            if ok
            else "DIFFERENCES: see sync.json."
        ),
    ]
    return rows


def render(results: Path = RESULTS) -> str:
    acc, lat, ide, lod, mem = (load(n, results) for n in ("accuracy", "login_latency", "identify", "load", "memory"))
    eng, ea, sy = load("engine", results), load("enrolment_accuracy", results), load("sync", results)
    out = ["### Headline", ""] + headline(acc, lat, ide, lod, mem) + [""]
    for title, d, fn, png in (
        ("Login latency", lat, latency_table, "login_latency.png"),
        ("Accuracy", acc, accuracy_tables, "accuracy_roc.png"),
        ("1:N identify scaling", ide, identify_tables, "identify.png"),
        ("Load", lod, load_table, "load.png"),
        ("Memory", mem, memory_table, "memory.png"),
        ("Embedding engine", eng, engine_table, "engine.png"),
        ("Enrolment accuracy (enrol 3, log in with another)", ea, enrolment_table, "enrolment_accuracy.png"),
        ("Fleet-wide users (home -> replica sync)", sy, sync_table, None),
    ):
        out += [f"### {title}", ""]
        if d is None:
            out += ["(not run yet)", ""]
            continue
        out += fn(d) + ([""] + [f"![{title}](results/{png})"] if png else []) + ["", provenance(d), ""]
    return "\n".join(out)


def main() -> int:
    text = README.read_text() if README.is_file() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{render()}\n{END}", text, flags=re.S)
    README.write_text(new)
    print(f"updated {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
