"""Realistic x86-64 user address-space layouts for generated processes.

A process gets a small heap VMA near ``0x5555_5540_0000`` (where a PIE binary's brk heap lands
with ASLR off), its data VMAs in the mmap area below ``0x7f00_0000_0000`` (ascending in the
order given, each 2 MiB aligned and >= 2 MiB from the next) and a small stack VMA at
``0x7ffc_0000_0000``. The two big gaps (heap..mmap, mmap..stack) are what DAMON's vaddr
initial "three regions" logic looks for (mm/damon/vaddr.c, __damon_va_three_regions()).
"""

from __future__ import annotations

from collections.abc import Sequence

from damon_gym.workloads.model import VMA_ALIGN, VMA_MIN_GAP, VMASpec, WorkloadError

HEAP_START = 0x5555_5540_0000
HEAP_SIZE = 132 << 10  # glibc's first brk extension is 132 KiB
MMAP_TOP = 0x7F00_0000_0000
STACK_START = 0x7FFC_0000_0000
STACK_SIZE = 132 << 10


def align_up(x: int, a: int) -> int:
    return -(-x // a) * a


def align_down(x: int, a: int) -> int:
    return x // a * a


def mmap_vmas(sizes: Sequence[int], names: Sequence[str] | None = None,
              top: int = MMAP_TOP) -> list[VMASpec]:
    """One VMA per size, ascending in the given order, the whole block ending below ``top``."""
    if not sizes:
        return []
    names = list(names) if names is not None else [f"data{i}" for i in range(len(sizes))]
    if len(names) != len(sizes):
        raise ValueError(f"names: got {len(names)} names; allowed: one per size ({len(sizes)})")
    for s in sizes:
        if int(s) <= 0:
            raise ValueError(f"size: got {s!r}; allowed: a positive number of bytes")
    span = sum(align_up(int(s), VMA_ALIGN) + VMA_MIN_GAP for s in sizes)
    room = top - align_up(HEAP_START + HEAP_SIZE, VMA_ALIGN) - VMA_MIN_GAP
    if span > room:
        raise WorkloadError(f"size: the VMAs take {span:,} bytes with their gaps; allowed: at "
                            f"most {room:,} (the address space between the heap and {top:#x})")
    addr = align_down(top - span, VMA_ALIGN)
    out = []
    for s, n in zip(sizes, names, strict=True):
        out.append(VMASpec(addr, addr + int(s), n))
        addr += align_up(int(s), VMA_ALIGN) + VMA_MIN_GAP
    return out


def heap_vma(populate: bool | None = None) -> VMASpec:
    return VMASpec(HEAP_START, HEAP_START + HEAP_SIZE, "[heap]", populate)


def stack_vma(populate: bool | None = None) -> VMASpec:
    return VMASpec(STACK_START, STACK_START + STACK_SIZE, "[stack]", populate)


def process_vmas(sizes: Sequence[int], names: Sequence[str] | None = None,
                 aux_populate: bool | None = None) -> list[VMASpec]:
    """heap | data VMAs (mmap area) | stack. ``aux_populate`` is the heap's and stack's
    populate override (a process touches both before any data)."""
    return [heap_vma(aux_populate), *mmap_vmas(sizes, names), stack_vma(aux_populate)]
