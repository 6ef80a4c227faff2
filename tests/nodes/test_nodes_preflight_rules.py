"""Preflight rules against recorded command outputs: each rule passes and fails as it should,
and a failure is one sentence with what was found, what was expected and the fix."""

from __future__ import annotations

import pytest

from tools.nodecheck import preflight as pf
from tools.nodecheck.model import Output
from tools.nodecheck.preflight import preflight_rules
from tools.nodecheck.rules import Runners

OK = Output(0, "")


def out(stdout: str = "", rc: int = 0, stderr: str = "") -> Output:
    return Output(rc, stdout, stderr)


def assert_fail(finding, check: str, *parts: str) -> None:
    assert finding.status == "fail", finding
    assert finding.check == check
    assert finding.message.startswith(f"{check}: found ")
    assert ", expected " in finding.message and "; fix: " in finding.message
    assert finding.message.endswith(".") and "\n" not in finding.message
    for part in parts:
        assert part in finding.message, (part, finding.message)


# ---------------------------------------------------------------- os
def os_outputs(release: str, kernel: str = "6.6.51+rpt-rpi-2712", arch: str = "aarch64"):
    return {"os_release": out(release), "kernel": out(kernel + "\n"), "arch": out(arch + "\n")}


def test_os_passes_on_raspberry_pi_os(make_ctx, fixture_text):
    f = pf.evaluate_os(os_outputs(fixture_text("preflight/os-release-raspios-bookworm.txt")), make_ctx())
    assert f.status == "pass"
    assert f.message == "Debian GNU/Linux 12 (bookworm), kernel 6.6.51+rpt-rpi-2712, aarch64"


def test_os_fails_on_an_old_release_and_kernel(make_ctx, fixture_text):
    f = pf.evaluate_os(
        os_outputs(fixture_text("preflight/os-release-ubuntu-1804.txt"), kernel="4.15.0-213-generic", arch="x86_64"),
        make_ctx(),
    )
    assert f.message == (
        "os: found Ubuntu 18.04.6 LTS (VERSION_ID=18.04) and kernel 4.15.0-213-generic, expected "
        "ubuntu 22.04 or newer and kernel 5.4 or newer; fix: upgrade to ubuntu 22.04 or newer and "
        "upgrade the kernel package and reboot."
    )


def test_os_fails_on_an_unsupported_distribution_and_32_bit(make_ctx, fixture_text):
    f = pf.evaluate_os(
        os_outputs(fixture_text("preflight/os-release-alpine.txt"), kernel="6.6.31-0-lts", arch="armv7l"), make_ctx()
    )
    assert_fail(
        f,
        "os",
        "architecture armv7l",
        "Alpine Linux v3.20 (ID=alpine)",
        "one of x86_64, aarch64",
        "debian 11+",
        "use a 64-bit OS image",
    )


def test_version_tuple():
    assert pf.version_tuple("6.18.44-fc-v769") == (6, 18, 44)
    assert pf.version_tuple("22.04") == (22, 4) > pf.version_tuple("20.10")
    assert pf.version_tuple("") == ()


# ---------------------------------------------------------------- cgroup v2
def test_cgroup_v2_passes_with_controllers(make_ctx):
    f = pf.evaluate_cgroup(
        {
            "fstype": out("cgroup2fs\n"),
            "unified": out("", 1),
            "controllers": out("cpuset cpu io memory hugetlb pids rdma misc\n"),
        },
        make_ctx(),
    )
    assert f.status == "pass" and f.message == "cgroup v2 with controllers cpu, memory, pids"


NO_CONTROLLERS = out("", 1, "cat: /sys/fs/cgroup/cgroup.controllers: No such file or directory")


def test_cgroup_v1_and_hybrid_fail(make_ctx):
    f = pf.evaluate_cgroup(
        {"fstype": out("tmpfs\n"), "unified": out("cgroup2fs\n"), "controllers": NO_CONTROLLERS}, make_ctx()
    )
    assert f.message == (
        "cgroup_v2: found a hybrid cgroup hierarchy (v1 controllers, v2 only at "
        "/sys/fs/cgroup/unified), expected the unified cgroup v2 hierarchy (cgroup2fs); fix: boot "
        "with `systemd.unified_cgroup_hierarchy=1` on the kernel command line (or a release that "
        "defaults to cgroup v2) and reboot."
    )
    f = pf.evaluate_cgroup(
        {"fstype": out("tmpfs\n"), "unified": out("", 1, "stat: cannot statx"), "controllers": NO_CONTROLLERS},
        make_ctx(),
    )
    assert_fail(f, "cgroup_v2", "found cgroup v1 (/sys/fs/cgroup is tmpfs)")


def test_cgroup_v2_without_memory_controller_fails(make_ctx):
    # Raspberry Pi OS before cgroup_enable=memory: v2 mounted, memory controller absent.
    f = pf.evaluate_cgroup(
        {"fstype": out("cgroup2fs\n"), "unified": out("", 1), "controllers": out("cpuset cpu io pids\n")}, make_ctx()
    )
    assert_fail(f, "cgroup_v2", "without the memory controller", "cgroup_enable=memory")


# ---------------------------------------------------------------- kernel modules
def module_outputs(**given: Output) -> dict[str, Output]:
    none = out("", 1, "not there")
    base = dict.fromkeys(
        ("proc_modules", "sys_module", "builtin", "kconfig", "modinfo", "filesystems", "bridge_sysctl"), none
    )
    return {**base, **given}


PROC_MODULES = (
    "br_netfilter 32768 0 - Live 0x0000000000000000\n"
    "bridge 311296 1 br_netfilter, Live 0x0000000000000000\n"
    "overlay 151552 0 - Live 0x0000000000000000\n"
)


@pytest.mark.parametrize(
    "given, says",
    [
        ({"proc_modules": out(PROC_MODULES)}, "is loaded (/proc/modules)"),
        (
            {"builtin": out("kernel/fs/overlayfs/overlay.ko\nkernel/net/bridge/br_netfilter.ko\n")},
            "is built into the kernel (modules.builtin)",
        ),
        ({"kconfig": out("CONFIG_OVERLAY_FS=y\nCONFIG_BRIDGE_NETFILTER=y\n")}, "=y)"),
        ({"modinfo": out("/lib/modules/6.1.0-27-amd64/kernel/fs/overlayfs/overlay.ko\n")}, "loadable ("),
        ({"kconfig": out("CONFIG_OVERLAY_FS=m\nCONFIG_BRIDGE_NETFILTER=m\n")}, "is loadable (CONFIG_"),
    ],
)
@pytest.mark.parametrize("module", ["overlay", "br_netfilter"])
def test_module_found(module, given, says):
    f = pf.evaluate_module(module, module_outputs(**given))
    assert f.status == "pass" and f.check == f"module_{module}" and says in f.message


def test_module_seen_only_at_runtime_is_honest_about_it():
    f = pf.evaluate_module("overlay", module_outputs(filesystems=out("nodev\tcgroup2\nnodev\toverlay\n")))
    assert f.status == "pass"
    assert "overlay is listed in /proc/filesystems" in f.message and "containers" in f.message
    f = pf.evaluate_module("br_netfilter", module_outputs(bridge_sysctl=out("bridge-nf-call-iptables\n")))
    assert f.status == "pass" and "/proc/sys/net/bridge exists" in f.message


def test_module_missing_fails():
    f = pf.evaluate_module(
        "br_netfilter",
        module_outputs(
            proc_modules=out("bridge 311296 0 - Live 0x0\n"),
            filesystems=out("nodev\toverlay\n"),
            modinfo=out("", 1, "modinfo: ERROR: Module br_netfilter not found."),
        ),
    )
    assert f.message == (
        "module_br_netfilter: found no trace of br_netfilter (not in /proc/modules, /sys/module, "
        "modules.builtin or the kernel config, and modinfo said: modinfo: ERROR: Module "
        "br_netfilter not found.), expected br_netfilter loaded, built in or loadable; fix: "
        "install the kernel's module package, run `modprobe br_netfilter` and list it in "
        "/etc/modules-load.d/k3s.conf."
    )


# ---------------------------------------------------------------- sysctls
WANTED = {"net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1"}


def test_sysctls_pass_and_fail():
    f = pf.evaluate_sysctls("ip_forward", {"net.ipv4.ip_forward": "1"}, {"net.ipv4.ip_forward": out("1\n")})
    assert f.status == "pass" and f.message == "net.ipv4.ip_forward=1"
    f = pf.evaluate_sysctls("ip_forward", {"net.ipv4.ip_forward": "1"}, {"net.ipv4.ip_forward": out("0\n")})
    assert f.message == (
        "ip_forward: found net.ipv4.ip_forward=0, expected net.ipv4.ip_forward=1; "
        "fix: run `sysctl -w net.ipv4.ip_forward=1` and persist it in "
        "/etc/sysctl.d/90-k3s.conf."
    )


def test_bridge_sysctls_absent_without_br_netfilter():
    missing = out("", 1, "cat: /proc/sys/net/bridge/bridge-nf-call-iptables: No such file")
    f = pf.evaluate_sysctls("bridge_nf", WANTED, dict.fromkeys(WANTED, missing))
    assert_fail(
        f,
        "bridge_nf",
        "net.bridge.bridge-nf-call-iptables absent",
        "net.bridge.bridge-nf-call-ip6tables absent",
        "modprobe br_netfilter",
    )


def test_sysctl_rule_reads_proc_sys():
    rule = pf.sysctl_rule("ip_forward", {"net.ipv4.ip_forward": 1})
    seen = []
    f = rule.check(Runners(node=lambda c: seen.append(c) or out("1\n"), cluster=None), None)
    assert seen == ["cat /proc/sys/net/ipv4/ip_forward"] and f.status == "pass"


# ---------------------------------------------------------------- swap
def test_swap(make_ctx, fixture_text):
    none = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    assert pf.evaluate_swap({"swaps": out(none)}, make_ctx()).status == "pass"
    f = pf.evaluate_swap({"swaps": out(fixture_text("preflight/proc-swaps-dphys.txt"))}, make_ctx())
    assert_fail(f, "swap", "swap active on /var/swap (99 MiB)", "swapoff -a", "dphys-swapfile")
    allowed = make_ctx(overrides={"swap_allowed": True})
    f = pf.evaluate_swap({"swaps": out(fixture_text("preflight/proc-swaps-dphys.txt"))}, allowed)
    assert f.status == "pass" and "allowed" in f.message


# ---------------------------------------------------------------- time synchronisation
def test_time_sync(make_ctx):
    procs = "systemd\nkthreadd\nsystemd-journal\nsystemd-timesyn\nsshd\n"
    f = pf.evaluate_time({"comm": out(procs), "ntp_synced": out("yes\n")}, make_ctx())
    assert f.status == "pass" and f.message == "systemd-timesyn running, clock synchronised"
    f = pf.evaluate_time({"comm": out("chronyd\n"), "ntp_synced": out("", 1)}, make_ctx())
    assert f.status == "pass" and f.message == "chronyd running"
    f = pf.evaluate_time({"comm": out("systemd\nsshd\nbash\n"), "ntp_synced": out("no\n")}, make_ctx())
    assert_fail(f, "time_sync", "no time synchronisation daemon running", "chrony")


# ---------------------------------------------------------------- memory, CPUs
def test_memory_edge_pi_passes_cloud_fails(make_ctx, fixture_text):
    o = {"meminfo": out(fixture_text("preflight/meminfo-rpi4-4g.txt"))}
    f = pf.evaluate_memory(o, make_ctx("edge"))
    assert f.status == "pass" and f.message == "3839 MiB total, 3332 MiB available"
    f = pf.evaluate_memory(o, make_ctx("cloud"))
    assert f.message == (
        "memory: found 3839 MiB of memory in total and 3332 MiB available, "
        "expected at least 7500 MiB for the cloud group and at least 4096 MiB "
        "available; fix: use a machine with more memory or check it for another "
        "group and stop what uses the memory (`ps aux --sort=-rss | head`) before "
        "installing k3s."
    )


def test_cpu_count(make_ctx):
    assert pf.evaluate_cpus({"nproc": out("4\n")}, make_ctx("cloud")).status == "pass"
    f = pf.evaluate_cpus({"nproc": out("2\n")}, make_ctx("cloud"))
    assert f.message == (
        "cpu_count: found 2 CPU(s), expected at least 4 for the cloud group; fix: "
        "use a machine with more cores or check it for another group."
    )


# ---------------------------------------------------------------- CPU features (the database)
def features(fixture_text, name: str, arch: str):
    return {"arch": out(arch + "\n"), "cpuinfo": out(fixture_text(f"preflight/{name}"))}


def test_edge_needs_no_cpu_features(make_ctx, fixture_text):
    f = pf.evaluate_cpu_features(features(fixture_text, "cpuinfo-rpi4.txt", "aarch64"), make_ctx())
    assert f.status == "pass" and f.message == "none needed by the edge group's ferretdb"


def test_cloud_rejects_raspberry_pi_4(make_ctx, fixture_text):
    f = pf.evaluate_cpu_features(features(fixture_text, "cpuinfo-rpi4.txt", "aarch64"), make_ctx("cloud"))
    assert f.message == (
        "cpu_features: found a CPU (Raspberry Pi 4 Model B Rev 1.5) without atomics, asimdrdm, "
        "dcpop, expected atomics, asimdrdm, dcpop for mongodb in the cloud group (AVX on x86-64, "
        "ARMv8.2-A on arm64); fix: run this machine in the edge group (FerretDB needs none) or "
        "use a newer CPU."
    )


def test_cloud_accepts_raspberry_pi_5(make_ctx, fixture_text):
    f = pf.evaluate_cpu_features(features(fixture_text, "cpuinfo-rpi5.txt", "aarch64"), make_ctx("cloud"))
    assert f.status == "pass" and "atomics, asimdrdm, dcpop present" in f.message


def test_cloud_rejects_x86_without_avx(make_ctx, fixture_text):
    f = pf.evaluate_cpu_features(features(fixture_text, "cpuinfo-celeron-j4125.txt", "x86_64"), make_ctx("cloud"))
    assert_fail(f, "cpu_features", "Intel(R) Celeron(R) J4125 CPU @ 2.00GHz) without avx")


def test_cloud_rejects_an_unknown_architecture(make_ctx, fixture_text):
    f = pf.evaluate_cpu_features(features(fixture_text, "cpuinfo-rpi4.txt", "armv7l"), make_ctx("cloud"))
    assert_fail(f, "cpu_features", "architecture armv7l", "one of x86_64, aarch64 for mongodb")


# ---------------------------------------------------------------- disk
DF = (
    "Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
    "/dev/mmcblk0p2    29243064  9823100  {avail} 34% /\n"
)


def test_disk(make_ctx):
    ok = pf.evaluate_disk({"df": out(DF.format(avail=18_000_000))}, make_ctx())
    assert ok.status == "pass" and ok.message == "17.2 GiB free on / (holding /var/lib/rancher)"
    f = pf.evaluate_disk({"df": out(DF.format(avail=8_000_000))}, make_ctx())
    assert f.message == (
        "disk: found 7.6 GiB free on / (holding /var/lib/rancher), expected at "
        "least 16 GiB for the edge group; fix: free space or mount a larger disk "
        "at /var/lib/rancher."
    )


def test_disk_command_walks_up_to_an_existing_folder():
    assert pf.disk_command("/var/lib/rancher") == (
        'd=/var/lib/rancher; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d"'
    )


# ---------------------------------------------------------------- ports
def test_listening_ports_reads_ipv4_ipv6_and_ignores_non_listening(fixture_text):
    ports = pf.listening_ports(
        fixture_text("preflight/proc-net-tcp-k3s-running.txt"), fixture_text("preflight/proc-net-udp-flannel.txt")
    )
    assert ports == {"tcp": {11000, 22, 6443, 10250}, "udp": {8472, 53}}


def test_ports_taken_fail_per_role(make_ctx, fixture_text):
    o = {
        "tcp": out(fixture_text("preflight/proc-net-tcp-k3s-running.txt")),
        "udp": out(fixture_text("preflight/proc-net-udp-flannel.txt")),
    }
    f = pf.evaluate_ports(o, make_ctx(role="server"))
    assert f.message == (
        "ports: found in use: 6443/tcp (Kubernetes API (k3s supervisor)), 10250/tcp (kubelet), "
        "8472/udp (flannel VXLAN), expected them free for the k3s server; fix: stop what listens "
        "there (`ss -ltnup 'sport = :6443'` names it) or use another machine."
    )
    f = pf.evaluate_ports(o, make_ctx(role="agent"))
    assert_fail(f, "ports", "in use: 10250/tcp (kubelet), 8472/udp", "for the k3s agent")
    assert "6443" not in f.message.split("expected")[0]


def test_ports_free_pass(make_ctx):
    f = pf.evaluate_ports({"tcp": out(""), "udp": out("")}, make_ctx(role="agent"))
    assert f.status == "pass" and f.message == "all 9 ports k3s agent needs are free"


# ---------------------------------------------------------------- hostname
def test_hostname(make_ctx):
    f = pf.evaluate_hostname(
        {"hostname": out("line-3-pi\n"), "resolve": out("127.0.1.1       line-3-pi\n")}, make_ctx()
    )
    assert f.status == "pass" and f.message == "line-3-pi resolves to 127.0.1.1"
    f = pf.evaluate_hostname({"hostname": out("line-3-pi\n"), "resolve": out("", 2)}, make_ctx())
    assert f.message == (
        "hostname: found hostname 'line-3-pi' does not resolve (getent hosts gave "
        "nothing), expected it to resolve to an address of this machine; fix: add "
        "`127.0.1.1 line-3-pi` (or the node IP) to /etc/hosts or a DNS record."
    )
    f = pf.evaluate_hostname({"hostname": out("Line3_Pi\n"), "resolve": out("10.0.0.3 Line3_Pi")}, make_ctx())
    assert_fail(f, "hostname", "'Line3_Pi', which is not a valid", "hostnamectl set-hostname")


# ---------------------------------------------------------------- the rule list
def test_rule_list_follows_the_thresholds(make_ctx):
    names = [r.name for r in preflight_rules(make_ctx().settings)]
    assert names == [
        "os",
        "cgroup_v2",
        "module_overlay",
        "module_br_netfilter",
        "ip_forward",
        "bridge_nf",
        "swap",
        "time_sync",
        "memory",
        "cpu_count",
        "cpu_features",
        "disk",
        "ports",
        "hostname",
        "rancher",
    ]
    settings = make_ctx(overrides={"kernel_modules": ["overlay"]}).settings
    assert "module_br_netfilter" not in [r.name for r in preflight_rules(settings)]
