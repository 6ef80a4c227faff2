"""A throwaway OpenSSH server on 127.0.0.1 for the proof tests: its own host key, one user key,
root login by key only, stopped when the test session ends. Nothing outside the temp folder is
touched except /run/sshd, the privilege-separation folder Debian's sshd insists on."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nodecheck-test", "-f", str(path)], check=True)


@dataclass
class Sshd:
    port: int
    address: str  # ssh://root@127.0.0.1:PORT
    ssh_config: Path  # pins the host key (StrictHostKeyChecking yes)
    identity_file: Path  # the authorised user key
    other_key: Path  # a key sshd does not accept
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start(workdir: Path, user: str | None = None) -> Sshd:
    """Start sshd for ``user`` (default: whoever runs the tests; CI runs as root)."""
    user = user or getpass.getuser()
    if not SSHD.exists():
        raise FileNotFoundError(f"{SSHD} missing: install openssh-server (`make apt`)")
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    host_key, user_key, other_key = workdir / "host_key", workdir / "user_key", workdir / "other_key"
    for key in (host_key, user_key, other_key):
        keygen(key)
    (workdir / "authorized_keys").write_text(Path(f"{user_key}.pub").read_text())
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {workdir}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel ERROR
""")
    host_pub = Path(f"{host_key}.pub").read_text().split()
    (workdir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    client = workdir / "ssh_config"
    client.write_text(f"""\
Host 127.0.0.1
  IdentitiesOnly yes
  UserKnownHostsFile {workdir}/known_hosts
  StrictHostKeyChecking yes
  LogLevel ERROR
""")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = open(workdir / "sshd.log", "wb")  # noqa: SIM115 - the child writes it for its whole life
    proc = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(workdir / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("sshd did not listen within 15 s")
    return Sshd(port, f"ssh://{user}@127.0.0.1:{port}", client, user_key, other_key, proc)
