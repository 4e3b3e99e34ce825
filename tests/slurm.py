"""A real Slurm cluster on this machine for the tests: munged, slurmctld and two slurmd nodes
on loopback (node1 on 127.0.0.1, node2 on 127.0.0.2), each node one CPU, all from Debian's
packages (`make setup` installs them), configured in a temporary folder and stopped after.

The daemons run as root (SlurmUser=root): Slurm's daemons switch users and need it. Ports are
free ports of this machine, the munge socket and every state file live in the folder, so the
cluster touches nothing of the host's own Slurm or munge set-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
NODES = {"node1": "127.0.0.1", "node2": "127.0.0.2"}


@dataclass(frozen=True)
class SlurmCluster:
    folder: Path
    env: dict[str, str]  # SLURM_CONF pointing at this cluster

    def run(self, *command: str, timeout: float = 60) -> str:
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def wait_until_idle(self, timeout: float) -> None:
        """Until no job is pending or running (squeue lists none)."""
        deadline = time.monotonic() + timeout
        while self.run("squeue", "--noheader").strip():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still queued after {timeout}s:\n{self.run('squeue')}")
            time.sleep(2)

    def job_state(self, job_id: str) -> str:
        """A finished job's state (slurmctld keeps it MinJobAge seconds: set long here)."""
        out = self.run("scontrol", "show", "job", job_id, "--oneliner")
        fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
        return fields["JobState"]


def missing_binaries() -> list[str]:
    return [name for name in DAEMONS if shutil.which(name) is None]


def _config(folder: Path, munge_socket: Path) -> str:
    nodes = "\n".join(
        f"NodeName={name} NodeAddr={addr} NodeHostname={name} Port={free_port()} CPUs=1 "
        "RealMemory=4000 State=UNKNOWN"
        for name, addr in NODES.items()
    )
    return (
        textwrap.dedent(f"""\
        ClusterName=fmtest
        SlurmctldHost=localhost(127.0.0.1)
        SlurmctldPort={free_port()}
        AuthType=auth/munge
        AuthInfo=socket={munge_socket}
        CredType=cred/munge
        SlurmUser=root
        SlurmdUser=root
        StateSaveLocation={folder}/state
        SlurmdSpoolDir={folder}/spool/%n
        SlurmctldPidFile={folder}/slurmctld.pid
        SlurmdPidFile={folder}/slurmd.%n.pid
        SlurmctldLogFile={folder}/log/slurmctld.log
        SlurmdLogFile={folder}/log/slurmd.%n.log
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        SelectType=select/cons_tres
        SelectTypeParameters=CR_CPU
        SchedulerType=sched/backfill
        MpiDefault=none
        ReturnToService=2
        MinJobAge=3600
        JobCompType=jobcomp/none
        AccountingStorageType=accounting_storage/none
        JobAcctGatherType=jobacct_gather/none
        SwitchType=switch/none
        """)
        + nodes
        + "\nPartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
    )


@contextmanager
def slurm_cluster(folder: Path, timeout: float = 60) -> Iterator[SlurmCluster]:
    """Start the cluster in `folder`, wait until both nodes are idle, stop it afterwards."""
    for sub in ("state", "spool", "log"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    munge_socket = folder / "munge.sock"  # well under the 108 bytes a socket path may take
    conf = folder / "slurm.conf"
    conf.write_text(_config(folder, munge_socket))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = SlurmCluster(folder, env)
    subprocess.run(
        ["munged", "--force", f"--socket={munge_socket}", "--key-file=/etc/munge/munge.key",
         f"--pid-file={folder}/munged.pid", f"--log-file={folder}/log/munged.log",
         f"--seed-file={folder}/munged.seed"],
        check=True, env=env,
    )  # fmt: skip
    try:
        cluster.run("slurmctld", "-c")
        for name in NODES:
            cluster.run("slurmd", "-N", name)
        _wait_for_idle_nodes(cluster, timeout)
        yield cluster
    finally:
        _stop(cluster, munge_socket)


def _wait_for_idle_nodes(cluster: SlurmCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            states = cluster.run("sinfo", "--noheader", "--Node", "--format=%N %t").split("\n")
        except RuntimeError:
            states = []  # slurmctld not answering yet
        if sum(line.endswith(" idle") for line in states) == len(NODES):
            return
        if time.monotonic() > deadline:
            logs = "\n".join(p.read_text()[-2000:] for p in (cluster.folder / "log").glob("*"))
            raise RuntimeError(f"Slurm nodes not idle after {timeout}s: {states}\n{logs}")
        time.sleep(0.5)


def _stop(cluster: SlurmCluster, munge_socket: Path) -> None:
    subprocess.run(["scontrol", "shutdown"], env=cluster.env, capture_output=True, timeout=30)
    pid_files = [cluster.folder / "slurmctld.pid", *(cluster.folder.glob("slurmd.*.pid"))]
    deadline = time.monotonic() + 30
    for pid_file in pid_files:
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid is not None and _alive(pid):
            os.kill(pid, 9)  # a daemon that ignored the shutdown must not outlive the test
    subprocess.run(["munged", f"--socket={munge_socket}", "--stop"], capture_output=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
