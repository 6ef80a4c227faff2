"""Preflight rules: is this machine fit to become a k3s node of its group? Pure over command output.

Every command is plain POSIX sh reading /proc, /sys or /etc, so it works as an unprivileged user,
over ssh and on minimal images (no ss, no sysctl binary, no systemd needed).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from .model import Context, Finding, Output, failed, passed, skipped
from .rules import Rule, Runners, on_node, problems_to_finding, version_tuple

MIB = 1024


# ---------------------------------------------------------------- operating system and kernel
def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def evaluate_os(o: Mapping[str, Output], ctx: Context) -> Finding:
    osr = parse_os_release(o["os_release"].stdout)
    os_id, version = osr.get("ID", "unknown"), osr.get("VERSION_ID", "")
    pretty = osr.get("PRETTY_NAME") or f"{os_id} {version}".strip()
    kernel, arch = o["kernel"].stdout.strip(), o["arch"].stdout.strip()
    s = ctx.settings
    supported: Mapping[str, str] = s["supported_os"]
    listing = ", ".join(f"{k} {v}+" for k, v in supported.items())
    problems: list[tuple[str, str, str]] = []
    if arch not in s["architectures"]:
        problems.append(
            (
                f"architecture {arch or 'unknown'}",
                f"one of {', '.join(s['architectures'])}",
                "use a 64-bit OS image on a 64-bit CPU",
            )
        )
    if os_id not in supported:
        problems.append((f"{pretty} (ID={os_id})", f"one of {listing}", "install a supported distribution"))
    elif version_tuple(version) < version_tuple(str(supported[os_id])):
        problems.append(
            (
                f"{pretty} (VERSION_ID={version or 'none'})",
                f"{os_id} {supported[os_id]} or newer",
                f"upgrade to {os_id} {supported[os_id]} or newer",
            )
        )
    if version_tuple(kernel) < version_tuple(str(s["min_kernel"])):
        problems.append(
            (
                f"kernel {kernel or 'unknown'}",
                f"kernel {s['min_kernel']} or newer",
                "upgrade the kernel package and reboot",
            )
        )
    if problems:
        return problems_to_finding("os", problems)
    return passed("os", f"{pretty}, kernel {kernel}, {arch}")


# ---------------------------------------------------------------- cgroup v2
def evaluate_cgroup(o: Mapping[str, Output], ctx: Context) -> Finding:
    fstype = o["fstype"].stdout.strip()
    wanted = list(ctx.settings["cgroup_controllers"])
    if fstype != "cgroup2fs":
        if fstype == "tmpfs" and o["unified"].stdout.strip() == "cgroup2fs":
            what = "a hybrid cgroup hierarchy (v1 controllers, v2 only at /sys/fs/cgroup/unified)"
        elif fstype == "tmpfs":
            what = "cgroup v1 (/sys/fs/cgroup is tmpfs)"
        elif o["fstype"].ok:
            what = f"/sys/fs/cgroup of type {fstype}"
        else:
            what = f"no /sys/fs/cgroup ({o['fstype'].first_line()})"
        return failed(
            "cgroup_v2",
            what,
            "the unified cgroup v2 hierarchy (cgroup2fs)",
            "boot with `systemd.unified_cgroup_hierarchy=1` on the kernel command line "
            "(or a release that defaults to cgroup v2) and reboot",
        )
    have = set(o["controllers"].stdout.split())
    missing = [c for c in wanted if c not in have]
    if missing:
        return failed(
            "cgroup_v2",
            f"cgroup v2 without the {', '.join(missing)} controller(s)",
            f"controllers {', '.join(wanted)} enabled",
            "add `cgroup_enable=memory cgroup_memory=1` (Raspberry Pi: in "
            "/boot/firmware/cmdline.txt) to the kernel command line and reboot",
        )
    return passed("cgroup_v2", f"cgroup v2 with controllers {', '.join(wanted)}")


# ---------------------------------------------------------------- kernel modules
KCONFIG = {"overlay": "CONFIG_OVERLAY_FS", "br_netfilter": "CONFIG_BRIDGE_NETFILTER"}


def _norm(name: str) -> str:
    return name.replace("-", "_")


def _runtime_evidence(module: str, o: Mapping[str, Output]) -> str | None:
    """Signs that the running kernel has the module's function, however it got there."""
    if module in o["sys_module"].stdout.split():
        return f"/sys/module/{module} exists"
    if module == "overlay" and re.search(r"\boverlay\b", o["filesystems"].stdout):
        return "overlay is listed in /proc/filesystems"
    if module == "br_netfilter" and o["bridge_sysctl"].ok:
        return "/proc/sys/net/bridge exists"
    return None


def evaluate_module(module: str, o: Mapping[str, Output]) -> Finding:
    check, mod = f"module_{module}", _norm(module)
    if any(line.split(" ", 1)[0] == mod for line in o["proc_modules"].stdout.splitlines()):
        return passed(check, f"{module} is loaded (/proc/modules)")
    builtin = {_norm(p.rsplit("/", 1)[-1].removesuffix(".ko")) for p in o["builtin"].stdout.split()}
    if mod in builtin:
        return passed(check, f"{module} is built into the kernel (modules.builtin)")
    symbol = KCONFIG.get(module)
    kconfig = re.search(rf"^{symbol}=([ym])$", o["kconfig"].stdout, re.M) if symbol else None
    if kconfig and kconfig.group(1) == "y":
        return passed(check, f"{module} is built into the kernel ({symbol}=y)")
    modinfo = o["modinfo"].stdout.strip()
    if o["modinfo"].ok and modinfo:
        where = "built into the kernel" if modinfo == "(builtin)" else f"loadable ({modinfo})"
        return passed(check, f"{module} is {where}; k3s loads it at start")
    if kconfig:
        return passed(check, f"{module} is loadable ({symbol}=m); k3s loads it at start")
    evidence = _runtime_evidence(mod, o)
    if evidence:
        return passed(
            check,
            f"{module} works in the running kernel ({evidence}) although neither "
            "/proc/modules nor modinfo can say how it was built (typical of containers "
            "and minimal VMs)",
        )
    return failed(
        check,
        f"no trace of {module} (not in /proc/modules, /sys/module, modules.builtin "
        f"or the kernel config, and modinfo said: {o['modinfo'].first_line()})",
        f"{module} loaded, built in or loadable",
        f"install the kernel's module package, run `modprobe {module}` and list it in /etc/modules-load.d/k3s.conf",
    )


def module_rule(module: str) -> Rule:
    q = shlex.quote(module)
    gather = on_node(
        proc_modules="cat /proc/modules",
        sys_module="ls /sys/module",
        builtin='cat "/lib/modules/$(uname -r)/modules.builtin"',
        kconfig='cat "/boot/config-$(uname -r)" 2>/dev/null || zcat /proc/config.gz',
        modinfo=f'PATH="$PATH:/sbin:/usr/sbin" modinfo -F filename {q}',
        filesystems="cat /proc/filesystems",
        bridge_sysctl="ls /proc/sys/net/bridge",
    )
    return Rule(f"module_{module}", gather, lambda o, ctx: evaluate_module(module, o))


# ---------------------------------------------------------------- sysctls
def _proc_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def evaluate_sysctls(name: str, wanted: Mapping[str, str], o: Mapping[str, Output]) -> Finding:
    problems = []
    for key, value in wanted.items():
        out = o[key]
        if not out.ok:
            hint = " (load br_netfilter first: `modprobe br_netfilter`)" if "bridge" in key else ""
            problems.append(
                (
                    f"{key} absent ({_proc_path(key)} does not exist)",
                    f"{key}={value}",
                    f"set it with `sysctl -w {key}={value}`{hint} and persist it in /etc/sysctl.d/90-k3s.conf",
                )
            )
        elif out.stdout.strip() != str(value):
            problems.append(
                (
                    f"{key}={out.stdout.strip()}",
                    f"{key}={value}",
                    f"run `sysctl -w {key}={value}` and persist it in /etc/sysctl.d/90-k3s.conf",
                )
            )
    if problems:
        return problems_to_finding(name, problems)
    return passed(name, ", ".join(f"{k}={v}" for k, v in wanted.items()))


def sysctl_rule(name: str, wanted: Mapping[str, Any]) -> Rule:
    wanted = {k: str(v) for k, v in wanted.items()}
    gather = on_node(**{k: f"cat {_proc_path(k)}" for k in wanted})
    return Rule(name, gather, lambda o, ctx: evaluate_sysctls(name, wanted, o))


# ---------------------------------------------------------------- swap
def evaluate_swap(o: Mapping[str, Output], ctx: Context) -> Finding:
    lines = [ln.split() for ln in o["swaps"].stdout.splitlines()[1:] if ln.strip()]
    if not lines:
        return passed("swap", "no swap active")
    active = ", ".join(f"{f[0]} ({int(f[2]) // MIB} MiB)" for f in lines if len(f) >= 3)
    if ctx.settings["swap_allowed"]:
        return passed("swap", f"swap active ({active}), allowed by the thresholds")
    return failed(
        "swap",
        f"swap active on {active}",
        "no active swap (memory limits and pod eviction assume none)",
        "run `swapoff -a` and remove the swap entries from "
        "/etc/fstab (Raspberry Pi OS: `systemctl disable --now dphys-swapfile`)",
    )


# ---------------------------------------------------------------- time synchronisation
def evaluate_time(o: Mapping[str, Output], ctx: Context) -> Finding:
    daemons = list(ctx.settings["time_sync_daemons"])
    running = sorted(set(o["comm"].stdout.split()) & set(daemons))
    synced = o["ntp_synced"].stdout.strip()
    if running:
        note = {"yes": ", clock synchronised", "no": ", clock NOT synchronised yet"}.get(synced, "")
        return passed("time_sync", f"{', '.join(running)} running{note}")
    return failed(
        "time_sync",
        f"no time synchronisation daemon running (looked for {', '.join(daemons)})",
        "one of them running",
        "install and start one, e.g. `apt-get install chrony && systemctl enable --now "
        "chrony` or `systemctl enable --now systemd-timesyncd`",
    )


# ---------------------------------------------------------------- memory and CPUs
def parse_meminfo(text: str) -> dict[str, int]:
    values = {}
    for line in text.splitlines():
        m = re.match(r"(\w+):\s+(\d+)", line)
        if m:
            values[m.group(1)] = int(m.group(2))
    return values


def evaluate_memory(o: Mapping[str, Output], ctx: Context) -> Finding:
    info = parse_meminfo(o["meminfo"].stdout)
    total, avail = info.get("MemTotal", 0) // MIB, info.get("MemAvailable", 0) // MIB
    need_total, need_avail = ctx.limits["min_memory_mib"], ctx.limits["min_available_memory_mib"]
    problems = []
    if total < need_total:
        problems.append(
            (
                f"{total} MiB of memory in total",
                f"at least {need_total} MiB for the {ctx.group} group",
                "use a machine with more memory or check it for another group",
            )
        )
    if avail < need_avail:
        problems.append(
            (
                f"{avail} MiB available",
                f"at least {need_avail} MiB available",
                "stop what uses the memory (`ps aux --sort=-rss | head`) before installing k3s",
            )
        )
    if problems:
        return problems_to_finding("memory", problems)
    return passed("memory", f"{total} MiB total, {avail} MiB available")


def evaluate_cpus(o: Mapping[str, Output], ctx: Context) -> Finding:
    count = int(o["nproc"].stdout.strip() or 0)
    need = ctx.limits["min_cpus"]
    if count < need:
        return failed(
            "cpu_count",
            f"{count} CPU(s)",
            f"at least {need} for the {ctx.group} group",
            "use a machine with more cores or check it for another group",
        )
    return passed("cpu_count", f"{count} CPUs")


def parse_cpu_flags(cpuinfo: str) -> tuple[set[str], str]:
    """The feature flags (x86 'flags', arm64 'Features') and model name of the first CPU."""
    flags: set[str] = set()
    names: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("flags", "Features") and not flags:
            flags = set(value.split())
        elif key in ("model name", "Model", "CPU part"):
            names.setdefault(key, value.strip())
    model = (
        names.get("model name")
        or names.get("Model")
        or (f"CPU part {names['CPU part']}" if "CPU part" in names else "")
    )
    return flags, model


def evaluate_cpu_features(o: Mapping[str, Output], ctx: Context) -> Finding:
    arch = o["arch"].stdout.strip()
    per_arch: Mapping[str, list[str]] = ctx.limits.get("cpu_features") or {}
    database = ctx.group_spec.get("database", "database")
    if not per_arch:
        return passed("cpu_features", f"none needed by the {ctx.group} group's {database}")
    if arch not in per_arch:
        return failed(
            "cpu_features",
            f"architecture {arch}",
            f"one of {', '.join(per_arch)} for {database} in the {ctx.group} group",
            "use an x86-64 or arm64 machine, or check it for the edge group",
        )
    flags, model = parse_cpu_flags(o["cpuinfo"].stdout)
    missing = [f for f in per_arch[arch] if f not in flags]
    if missing:
        return failed(
            "cpu_features",
            f"a CPU ({model or arch}) without {', '.join(missing)}",
            f"{', '.join(per_arch[arch])} for {database} in the {ctx.group} group (AVX on x86-64, ARMv8.2-A on arm64)",
            "run this machine in the edge group (FerretDB needs none) or use a newer CPU",
        )
    return passed("cpu_features", f"{', '.join(per_arch[arch])} present ({model or arch})")


# ---------------------------------------------------------------- disk
def disk_command(path: str) -> str:
    q = shlex.quote(path)
    return f'd={q}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d"'


def evaluate_disk(o: Mapping[str, Output], ctx: Context) -> Finding:
    data_dir, need = ctx.settings["data_dir"], ctx.limits["min_free_disk_gib"]
    out = o["df"]
    lines = out.stdout.strip().splitlines()
    if not out.ok or len(lines) < 2:
        return failed(
            "disk",
            f"no answer from df for {data_dir} ({out.first_line()})",
            f"at least {need} GiB free",
            "check that df (coreutils) is installed",
        )
    fields = lines[-1].split()
    free_gib, mount = int(fields[3]) / (1024 * 1024), fields[5]
    if free_gib < need:
        return failed(
            "disk",
            f"{free_gib:.1f} GiB free on {mount} (holding {data_dir})",
            f"at least {need} GiB for the {ctx.group} group",
            f"free space or mount a larger disk at {data_dir}",
        )
    return passed("disk", f"{free_gib:.1f} GiB free on {mount} (holding {data_dir})")


# ---------------------------------------------------------------- ports
def listening_ports(tcp: str, udp: str) -> dict[str, set[int]]:
    """Ports with a listening TCP socket or a bound UDP socket, from /proc/net/{tcp,udp}[6]."""
    found: dict[str, set[int]] = {"tcp": set(), "udp": set()}
    for proto, text in (("tcp", tcp), ("udp", udp)):
        for line in text.splitlines():
            f = line.split()
            if len(f) < 4 or ":" not in f[1] or f[0] == "sl":
                continue
            if proto == "tcp" and f[3] != "0A":  # 0A = LISTEN
                continue
            found[proto].add(int(f[1].rsplit(":", 1)[1], 16))
    return found


def evaluate_ports(o: Mapping[str, Output], ctx: Context) -> Finding:
    wanted: Mapping[str, Mapping[Any, str]] = ctx.settings["ports"][ctx.role]
    busy = listening_ports(o["tcp"].stdout, o["udp"].stdout)
    taken = [
        f"{int(p)}/{proto} ({what})"
        for proto in ("tcp", "udp")
        for p, what in (wanted.get(proto) or {}).items()
        if int(p) in busy[proto]
    ]
    if taken:
        first = taken[0].split("/")[0]
        return failed(
            "ports",
            f"in use: {', '.join(taken)}",
            f"them free for the k3s {ctx.role}",
            f"stop what listens there (`ss -ltnup 'sport = :{first}'` names it) or use another machine",
        )
    count = sum(len(v or {}) for v in wanted.values())
    return passed("ports", f"all {count} ports k3s {ctx.role} needs are free")


# ---------------------------------------------------------------- hostname
NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def evaluate_hostname(o: Mapping[str, Output], ctx: Context) -> Finding:
    name = o["hostname"].stdout.strip()
    if not NODE_NAME.match(name) or len(name) > 253 or name == "localhost":
        return failed(
            "hostname",
            f"hostname {name!r}, which is not a valid unique node name",
            "lowercase letters, digits, '-' and '.' (RFC 1123), not localhost",
            "run `hostnamectl set-hostname <name>` (or set node-name in /etc/rancher/k3s/config.yaml)",
        )
    answer = o["resolve"].stdout.split()
    if not o["resolve"].ok or not answer:
        return failed(
            "hostname",
            f"hostname {name!r} does not resolve (getent hosts gave nothing)",
            "it to resolve to an address of this machine",
            f"add `127.0.1.1 {name}` (or the node IP) to /etc/hosts or a DNS record",
        )
    return passed("hostname", f"{name} resolves to {answer[0]}")


# ---------------------------------------------------------------- Rancher reachability
def gather_rancher(r: Runners, ctx: Context) -> dict[str, Output]:
    if not ctx.rancher_url:
        return {}
    url = shlex.quote(ctx.rancher_url.rstrip("/") + "/ping")
    return {"curl": r.node(f"curl -ksS -o /dev/null -m 10 -w '%{{http_code}}' {url}")}


def evaluate_rancher(o: Mapping[str, Output], ctx: Context) -> Finding:
    if not ctx.rancher_url:
        return skipped("rancher", "no Rancher URL given (RANCHER_URL=https://... enables this check)")
    url, out = ctx.rancher_url.rstrip("/") + "/ping", o["curl"]
    if out.rc == 127:
        return failed(
            "rancher",
            "no curl on the host",
            f"an HTTP answer from {url}",
            "install curl (the k3s installer needs it too)",
        )
    code = out.stdout.strip()
    if not out.ok:
        return failed(
            "rancher",
            f"{url} unreachable from this host ({out.first_line()})",
            "an HTTP answer from the Rancher server",
            "check the URL, DNS, proxy and firewall between this host and Rancher",
        )
    if not code.startswith("2"):
        return failed(
            "rancher",
            f"HTTP {code} from {url}",
            "HTTP 200 (pong)",
            "check that the URL points at the Rancher server itself, not a proxy page",
        )
    return passed("rancher", f"{url} answered HTTP {code}")


# ---------------------------------------------------------------- the list
def preflight_rules(settings: Mapping[str, Any]) -> list[Rule]:
    """The preflight rules in report order (modules and sysctls come from the thresholds)."""
    rules = [
        Rule("os", on_node(os_release="cat /etc/os-release", kernel="uname -r", arch="uname -m"), evaluate_os),
        Rule(
            "cgroup_v2",
            on_node(
                fstype="stat -fc %T /sys/fs/cgroup",
                unified="stat -fc %T /sys/fs/cgroup/unified",
                controllers="cat /sys/fs/cgroup/cgroup.controllers",
            ),
            evaluate_cgroup,
        ),
    ]
    rules += [module_rule(m) for m in settings["kernel_modules"]]
    rules += [sysctl_rule(name, keys) for name, keys in settings["sysctls"].items()]
    rules += [
        Rule("swap", on_node(swaps="cat /proc/swaps"), evaluate_swap),
        Rule(
            "time_sync",
            on_node(
                comm="cat /proc/[0-9]*/comm 2>/dev/null; true", ntp_synced="timedatectl show -p NTPSynchronized --value"
            ),
            evaluate_time,
        ),
        Rule("memory", on_node(meminfo="cat /proc/meminfo"), evaluate_memory),
        Rule("cpu_count", on_node(nproc="env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc"), evaluate_cpus),
        Rule("cpu_features", on_node(arch="uname -m", cpuinfo="cat /proc/cpuinfo"), evaluate_cpu_features),
        Rule("disk", lambda r, ctx: {"df": r.node(disk_command(ctx.settings["data_dir"]))}, evaluate_disk),
        Rule(
            "ports",
            on_node(
                tcp="cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true",
                udp="cat /proc/net/udp /proc/net/udp6 2>/dev/null; true",
            ),
            evaluate_ports,
        ),
        Rule(
            "hostname",
            on_node(
                hostname="cat /proc/sys/kernel/hostname", resolve='getent hosts "$(cat /proc/sys/kernel/hostname)"'
            ),
            evaluate_hostname,
        ),
        Rule("rancher", gather_rancher, evaluate_rancher),
    ]
    return rules
