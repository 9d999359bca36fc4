"""The real-kernel commands of the ``damon-gym`` CLI (docs/fidelity.md):

``kernel-run``: run a scenario on a stock Debian kernel in a qemu guest, N boots, each parsed
into a damo record and a stats JSON (damon_gym/fidelity/harness.py).

``fidelity``: run the simulator N times on the same scenario and compare it with such runs,
metric by metric, in a markdown report with plots and pass/fail (damon_gym/fidelity/compare.py, report.py);
each kernel's runs are compared with simulator runs that follow that kernel's quota rules.

The parsers are added to ``damon_gym.cli``'s by :func:`add_parsers`."""

from __future__ import annotations

import argparse


def cmd_kernel_run(args: argparse.Namespace) -> int:
    from damon_gym.fidelity.harness import main_kernel_run

    return main_kernel_run(args)


def cmd_fidelity(args: argparse.Namespace) -> int:
    from damon_gym.fidelity.report import main_fidelity

    return main_fidelity(args)


def add_parsers(sub) -> None:
    k = sub.add_parser("kernel-run", help="run a scenario on a real Debian kernel under qemu "
                       "and record what DAMON did (docs/fidelity.md)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
                           "examples:\n"
                           "  damon-gym kernel-run --scenario kernel-paddr-migrate --kernel 7.x "
                           "--runs 3 --out out/kr/paddr-7\n"
                           "  damon-gym kernel-run --scenario kernel-paddr-migrate --kernel 6.17 "
                           "--runs 1 --unmovable pipe:128MiB@0 --out out/kr/unmov\n"
                           "one-time set-up: apt-get install -y --no-install-recommends "
                           "qemu-system-x86 busybox-static cpio gcc libc6-dev"))
    k.add_argument("--scenario", required=True, help="scenario name or YAML path (kernel-*)")
    k.add_argument("--kernel", required=True, help="Debian kernel series: 6.12, 6.17, 7.x ...")
    k.add_argument("--runs", type=int, default=3, help="guest boots (each a fresh machine)")
    k.add_argument("--out", required=True, help="output folder")
    k.add_argument("--snap", type=int, default=1,
                   help="seconds between region snapshots and stats (default 1)")
    k.add_argument("--flush-us", type=int, default=1000,
                   help="period of the guest's TLB-flush helper in us (0: off; TCG needs it)")
    k.add_argument("--accel", default="tcg", choices=("tcg", "kvm"), help="qemu accelerator")
    k.add_argument("--unmovable", action="append", default=[], metavar="[pipe:|mlock:]SIZE@NODE",
                   help="unmovable memory placed on a node before the workload (repeatable)")
    k.add_argument("--cache", default=None,
                   help="where kernels are fetched and unpacked (default ~/.cache/damon-gym/kernels)")
    k.set_defaults(func=cmd_kernel_run)
    f = sub.add_parser("fidelity", help="compare the simulator with kernel-run results: a "
                       "markdown report with plots and pass/fail per metric",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
                           "examples:\n"
                           "  damon-gym fidelity --real out/kr/paddr-6.17 --real out/kr/paddr-7 "
                           "--scenario kernel-paddr-migrate --runs 3 --out out/fid\n"
                           "  damon-gym fidelity --real tests/fixtures/kernel/kernel-vaddr-stat/7.x "
                           "--scenario kernel-vaddr-stat"))
    f.add_argument("--real", required=True, action="append",
                   help="a kernel-run output folder (repeatable: several kernels); the "
                   "simulator follows the DAMOS quota rules of the kernel each folder ran "
                   "(scenario field kernel, e.g. 6.17 or 7.3), where it knows them")
    f.add_argument("--scenario", required=True, help="the scenario the real runs ran")
    f.add_argument("--runs", type=int, default=3, help="simulator runs (seeds 0..N-1)")
    f.add_argument("--out", default="out/fidelity",
                   help="report folder (default: out/fidelity)")
    f.add_argument("--json", default=None, help="also write the metrics as JSON here")
    f.set_defaults(func=cmd_fidelity)
