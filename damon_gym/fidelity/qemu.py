"""Boot a kernel and an initramfs under qemu with the scenario's nodes, capturing the serial
console. Node k of the scenario's topology becomes guest NUMA node k with the node's capacity
(the real size: the harness needs ``capacity_scale`` 1); the CPUs all sit on ``cpu_node``, the
other nodes are memory-only (like a CXL expander); the distance between two nodes is 20.

Fixed kernel parameters: ``numa_balancing=disable`` (otherwise automatic NUMA balancing moves
the workload's pages by itself), ``damon_stat.enabled=N`` (6.17+ would start their own
kdamond), ``transparent_hugepage=never`` (4 KiB pages, as the kernel-* scenarios simulate).
TCG is the default accelerator (``kvm`` where it works)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from damon_gym.fidelity import HarnessError
from damon_gym.memory.topology import Topology

KERNEL_ARGS = ("console=ttyS0 quiet loglevel=3 panic=-1 damon_stat.enabled=N "
               "transparent_hugepage=never numa_balancing=disable")
MAX_GUEST_BYTES = 16 << 30
NR_CPUS = 2


def qemu_command(vmlinuz: Path, initrd: Path, topology: Topology, *, accel: str = "tcg",
                 cpus: int = NR_CPUS) -> list[str]:
    caps = [n.capacity for n in topology.nodes]
    for i, c in enumerate(caps):
        if c % (1 << 20) or c < (128 << 20):
            raise HarnessError(f"topology.nodes[{i}].capacity: {c} B; the guest needs whole MiB "
                               "and at least 128 MiB per node")
    if sum(caps) > MAX_GUEST_BYTES:
        raise HarnessError(f"topology: {sum(caps) >> 20} MiB in all; the guest allows at most "
                           f"{MAX_GUEST_BYTES >> 20} MiB (use a smaller topology)")
    if accel not in ("tcg", "kvm"):
        raise HarnessError(f"accel: got {accel!r}; allowed: tcg, kvm")
    cmd = ["qemu-system-x86_64"]
    cmd += (["-accel", "tcg,thread=multi", "-cpu", "max"] if accel == "tcg"
            else ["-accel", "kvm", "-cpu", "host"])
    cmd += ["-smp", str(cpus), "-m", f"{sum(caps) >> 20}M"]
    for i, c in enumerate(caps):
        cmd += ["-object", f"memory-backend-ram,id=mem{i},size={c >> 20}M"]
        node = f"node,nodeid={i},memdev=mem{i}"
        if i == topology.cpu_node:
            node += f",cpus=0-{cpus - 1}"
        cmd += ["-numa", node]
    for a in range(len(caps)):
        for b in range(a + 1, len(caps)):
            cmd += ["-numa", f"dist,src={a},dst={b},val=20"]
    cmd += ["-kernel", str(vmlinuz), "-initrd", str(initrd), "-append", KERNEL_ARGS,
            "-nographic", "-no-reboot", "-nic", "none"]
    return cmd


def boot(cmd: list[str], log: Path, timeout_s: float) -> dict:
    """Run qemu, the console into ``log``; returns wall time and exit status. A guest that
    does not power off within ``timeout_s`` is killed (and its log kept)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            rc = proc.wait()
            timed_out = True
    return {"wall_s": round(time.monotonic() - t0, 2), "rc": rc, "timed_out": timed_out}
