"""The guest side of the kernel harness, built on the host: the runner's plan for a
scenario's workload, the init's configuration, and the initramfs (busybox-static, the init,
the runner compiled statically with gcc, packed with cpio).

Workloads the runner executes (anything else is refused naming ``workload.*``):

- a masim config (``workload.masim``): regions in file order as consecutive slices of one
  mapping (the simulator gives each its own VMA), populated at first touch unless they name
  an initial data file; phases, patterns (random / sequential with stride, integer weights,
  ro/wo/rw) and masim's burst of 131,072 accesses per selection;
- the ``hot_cold`` generator with ``contiguous: true`` and ``uniform``, on one VMA: the hot
  block is ``round(hot_fraction * pages)`` pages at ``hot_offset``, swept sequentially; the
  cold slices get ``1 - hot_prob`` of the selections, at random.

Placement: ``mempolicy`` ``local`` with a node binds to that node (first touch there),
``interleave`` interleaves; ``weighted_interleave`` is refused. Unmovable memory (kernel pipe
buffers or mlock'ed pages on a node) is a harness option, not a scenario field: the simulator
has no such memory, which is one of the disagreements the comparison measures.

The runner runs as fast as the guest CPU lets it; the scenario's ``total_rate`` is not
reproduced. For the kernel-* scenarios that does not matter as long as every hot page is
touched more often than DAMON samples (every 5 ms), which the runner's ``KR_WL_END bursts=``
count shows; after the last masim phase the runner stays idle until the init stops it.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from damon_gym.fidelity import HarnessError
from damon_gym.scenario import Scenario
from damon_gym.units import parse_size

HARNESS_DIR = Path(__file__).resolve().parents[2] / "kernel_harness"
PAGE = 4096
MASIM_BURST = 131072
#: Debian packages of the tools the harness runs on the host
TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static",
         "gcc": "gcc", "cpio": "cpio"}
APT_HINT = ("apt-get update && apt-get install -y --no-install-recommends qemu-system-x86 "
            "busybox-static cpio gcc libc6-dev")


@dataclass
class Unmovable:
    mode: str    # "pipe" (kernel pipe buffers) or "mlock"
    node: int
    bytes: int

    @classmethod
    def parse(cls, text: str) -> Unmovable:
        """``[pipe:|mlock:]SIZE@NODE``, e.g. ``64MiB@0`` or ``mlock:32MiB@1``."""
        mode, _, rest = text.rpartition(":") if ":" in text else ("pipe", "", text)
        size, at, node = rest.partition("@")
        if mode not in ("pipe", "mlock") or not at or not node.strip().isdigit():
            raise HarnessError(f"unmovable: got {text!r}; allowed: [pipe:|mlock:]SIZE@NODE, "
                               "e.g. 64MiB@0")
        try:
            nbytes = parse_size(size.strip(), "unmovable")
        except ValueError as e:
            raise HarnessError(f"unmovable: {e}") from None
        if nbytes <= 0:
            raise HarnessError(f"unmovable: got {text!r}; allowed: a size > 0")
        return cls(mode, int(node), nbytes)


def missing_tools() -> list[str]:
    """Names of the host tools the harness needs that are not on PATH (or not usable: a
    busybox that is not static cannot run in the initramfs)."""
    out = [f"{t} (Debian package {p})" for t, p in TOOLS.items() if shutil.which(t) is None]
    bb = shutil.which("busybox")
    if bb is not None and not is_static(Path(bb)):
        out.append(f"a static busybox ({bb} is dynamically linked; Debian package busybox-static)")
    return out


def require_tools() -> None:
    miss = missing_tools()
    if miss:
        raise HarnessError("missing host tools: " + "; ".join(miss) + f". Install with: {APT_HINT}")


def is_static(path: Path) -> bool:
    """No ELF interpreter (PT_INTERP) in the program headers."""
    import struct

    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", ph, i * phentsize)[0] != 3 for i in range(phnum))


# ------------------------------------------------------------------ the runner's plan

def _policy(mp) -> str:
    if mp is None:
        return "policy local"
    mode = mp["mode"] if isinstance(mp, dict) else mp.mode
    nodes = mp.get("nodes") if isinstance(mp, dict) else mp.nodes
    if mode == "local":
        return f"policy bind {nodes[0]}" if nodes else "policy local"
    if mode == "interleave":
        if not nodes:
            raise HarnessError("workload.params.mempolicy.nodes: interleave needs its nodes")
        return "policy interleave " + ",".join(str(n) for n in nodes)
    raise HarnessError(f"workload.params.mempolicy.mode: {mode!r} is not run by the guest "
                       "runner; allowed: local (with or without a node), interleave")


def workload_plan(scenario: Scenario, *, run_s: float, report_ms: int,
                  unmovable: Sequence[Unmovable] = ()) -> str:
    """The runner's plan (kernel_harness/runner.c) for the scenario's workload."""
    if scenario.is_randomized:
        scenario = scenario.resolved()
    spec = scenario.workload
    if scenario.capacity_scale != 1.0:
        raise HarnessError(f"capacity_scale: {scenario.capacity_scale}; the guest runs the real "
                           "sizes, allowed: 1.0")
    if spec.scale != 1.0:
        raise HarnessError(f"workload.scale: {spec.scale}; allowed in the guest: 1.0")
    if spec.u_target is not None and not isinstance(spec.u_target, (int, float)):
        raise HarnessError("workload.u_target: a schedule is not run by the guest runner")
    lines = ["# damon-gym guest runner plan (damon_gym/fidelity/guest.py)",
             f"# scenario {scenario.name}", f"report_ms {report_ms}"]
    lines += [f"unmovable {u.mode} {u.node} {u.bytes}" for u in unmovable]
    long_ms = int(run_s * 1000) + 60_000
    if spec.masim is not None:
        from damon_gym.workloads.masim import read_masim_config

        cfg = read_masim_config(scenario.resolve(spec.masim))
        lines.append("policy local")
        lines.append(f"burst {MASIM_BURST}")
        for i, r in enumerate(cfg.regions):
            lines.append(f"region r{i} {r.size} {int(r.init_data not in (None, 'none'))}")
        names = {r.name: f"r{i}" for i, r in enumerate(cfg.regions)}
        for j, ph in enumerate(cfg.phases):
            if ph.duration_ms == 0:
                continue
            lines.append(f"phase p{j} {ph.duration_ms}")
            for a in ph.patterns:
                lines.append(f"pattern {names[a.region]} {int(a.random)} {a.stride} "
                             f"{a.weight} {a.rw_mode or 'wo'}")
        return "\n".join(lines) + "\n"
    if spec.generator not in ("hot_cold", "uniform"):
        raise HarnessError(f"workload.generator: {spec.generator!r} is not run by the guest "
                           "runner; allowed: hot_cold (contiguous), uniform, or a masim config")
    p = dict(spec.params)
    if int(p.get("nr_vmas", 1)) != 1:
        raise HarnessError(f"workload.params.nr_vmas: {p['nr_vmas']}; allowed in the guest: 1")
    size = parse_size(p["size"], "workload.params.size")
    npages = size // PAGE
    lines.append(_policy(p.get("mempolicy")))
    lines.append("burst 4096")
    populate = int(bool(p.get("populate", True)))
    if spec.generator == "uniform":
        lines += [f"region all {npages * PAGE} {populate}", f"phase run {long_ms}",
                  "pattern all 1 4096 1 wo"]
        return "\n".join(lines) + "\n"
    if not p.get("contiguous"):
        raise HarnessError("workload.params.contiguous: the guest runner places one contiguous "
                           "hot block; allowed: true")
    hot_pages = int(round(float(p["hot_fraction"]) * npages))
    off = int(parse_size(p.get("hot_offset", 0), "workload.params.hot_offset")) // PAGE
    if hot_pages <= 0 or off + hot_pages > npages:
        raise HarnessError(f"workload.params.hot_offset/hot_fraction: the hot block "
                           f"[{off}, {off + hot_pages}) pages does not fit in {npages} pages")
    hot_prob = float(p["hot_prob"])
    slices = [("cold_lo", off), ("hot", hot_pages), ("cold_hi", npages - off - hot_pages)]
    slices = [(n, k) for n, k in slices if k > 0]
    for n, k in slices:
        lines.append(f"region {n} {k * PAGE} {populate}")
    lines.append(f"phase run {long_ms}")
    scale = 1_000_000
    lines.append(f"pattern hot 0 4096 {max(int(round(hot_prob * scale)), 0)} wo")
    cold = [(n, k) for n, k in slices if n != "hot"]
    cold_pages = sum(k for _, k in cold)
    for n, k in cold:
        wgt = int(round((1.0 - hot_prob) * scale * k / cold_pages)) if cold_pages else 0
        if wgt:
            lines.append(f"pattern {n} 1 4096 {wgt} wo")
    return "\n".join(lines) + "\n"


def init_conf(*, duration_s: int, snap_s: int, flush_us: int, cpu: int,
              nr_schemes: list[int], snap_schemes: list[tuple[int, int]] | None = None) -> str:
    """The init's settings. ``snap_schemes``: (kdamond, scheme) pairs whose tried regions are
    printed (default: every scheme)."""
    if snap_schemes is None:
        snap_schemes = [(k, s) for k, n in enumerate(nr_schemes) for s in range(n)]
    for name, v in (("duration", duration_s), ("snap", snap_s)):
        if int(v) != v or v < 1:
            raise HarnessError(f"{name}: got {v!r}; allowed: whole seconds >= 1")
    return (f"DUR={int(duration_s)}\nSNAP={int(snap_s)}\nFLUSH={int(flush_us)}\nCPU={int(cpu)}\n"
            f"KDCPU={0 if cpu else 1}\n"
            f"SCHEMES=\"{' '.join(str(n) for n in nr_schemes)}\"\n"
            f"SNAPSCHEMES=\"{' '.join(f'{k}:{s}' for k, s in snap_schemes)}\"\n")


# ------------------------------------------------------------------ the initramfs

def compile_runner(out: Path) -> None:
    src = HARNESS_DIR / "runner.c"
    if not src.is_file() or not (HARNESS_DIR / "init").is_file():
        raise HarnessError(f"{HARNESS_DIR}: the guest sources (runner.c, init) are not there; "
                           "kernel-run needs a source checkout of damon-gym")
    p = subprocess.run(["gcc", "-O2", "-static", "-o", str(out), str(src)],
                       capture_output=True, text=True)
    if p.returncode:
        raise HarnessError(f"gcc -static {src} failed: {p.stderr.strip()[-500:]} (a static "
                           f"build needs libc6-dev; {APT_HINT})")


def build_initramfs(out: Path, *, plan: str, writes: str, conf: str) -> Path:
    """A gzip'ed newc cpio: /init, /bin/busybox with its applet links, /bin/runner and
    /harness/{plan,writes,conf}."""
    require_tools()
    with tempfile.TemporaryDirectory(prefix="damon-gym-initramfs-") as tmp:
        root = Path(tmp)
        for d in ("bin", "proc", "sys", "dev", "tmp", "harness"):
            (root / d).mkdir()
        which = shutil.which("busybox")
        if which is None:  # require_tools() checked it; PATH may have changed since
            raise HarnessError(f"missing host tool: busybox. Install with: {APT_HINT}")
        bb = Path(which)
        shutil.copy2(bb, root / "bin" / "busybox")
        applets = subprocess.run([str(bb), "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        for a in applets:
            if not (root / "bin" / a).exists():
                (root / "bin" / a).symlink_to("busybox")
        compile_runner(root / "bin" / "runner")
        shutil.copy2(HARNESS_DIR / "init", root / "init")
        (root / "init").chmod(0o755)
        (root / "harness" / "plan").write_text(plan)
        (root / "harness" / "writes").write_text(writes)
        (root / "harness" / "conf").write_text(conf)
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        p = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root,
            input=("\n".join(["."] + files) + "\n").encode(), capture_output=True)
        if p.returncode:
            raise HarnessError(f"cpio failed: {p.stderr.decode(errors='replace')[-400:]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_suffix(out.suffix + ".tmp")
        tmp_out.write_bytes(gzip.compress(p.stdout, compresslevel=1))
        tmp_out.replace(out)
    return out
