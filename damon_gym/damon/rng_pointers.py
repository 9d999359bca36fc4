"""A numpy ``Generator`` handed to numba by its bit generator's C pointers.

Passing a ``np.random.Generator`` to a numba function costs about 10 us per call (numba types
it and casts three ctypes function pointers on every call), more than some of the kernels it
feeds. The context's Generator is the same object all run long, so :func:`pointers` reads its
bit generator's state address and ``next_double`` / ``next_uint64`` / ``next_uint32``
functions once, and :func:`generator` rebuilds numba's Generator value from them inside
compiled code: the draws go through the same C functions on the same state, so the stream is
the one numba would draw from the object itself (tests/test_fastpath_windows.py compares).
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict

import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.random.generator_core import _bit_gen_type

from damon_gym.caches import bounded_put

_GEN = types.NumPyRandomGeneratorType("generator_from_pointers")

# id(generator) -> (generator, pointers): process-local (never pickled with a context, whose
# copy would carry the old process's addresses); the entry holds the generator, so its id
# stays unique while cached
_CACHE: OrderedDict[int, tuple[np.random.Generator, tuple[int, int, int, int]]] = OrderedDict()
_CACHE_SIZE = 256


def pointers(rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(state address, next_double, next_uint64, next_uint32) of ``rng``'s bit generator."""
    hit = _CACHE.get(id(rng))
    if hit is not None and hit[0] is rng:
        return hit[1]
    c = rng.bit_generator.ctypes

    def addr(fn) -> int:
        value = ctypes.cast(fn, ctypes.c_void_p).value
        if value is None:  # a bit generator always fills its function pointers
            raise RuntimeError("numpy bit generator without a function pointer")
        return int(value)

    ptrs = (int(c.state_address), addr(c.next_double), addr(c.next_uint64),
            addr(c.next_uint32))
    bounded_put(_CACHE, id(rng), (rng, ptrs), _CACHE_SIZE)
    return ptrs


@intrinsic
def generator(typingctx, state, next_double, next_uint64, next_uint32):
    """numba's Generator value over the bit generator at these addresses (no Python object:
    it cannot be returned to Python, only drawn from)."""
    sig = _GEN(types.uintp, types.uintp, types.uintp, types.uintp)

    def codegen(context, builder, signature, args):
        bg = cgutils.create_struct_proxy(_bit_gen_type)(context, builder)
        bg.parent = cgutils.get_null_value(bg.parent.type)
        bg.state_address = args[0]
        bg.state = args[0]
        bg.fnptr_next_double = args[1]
        bg.fnptr_next_uint64 = args[2]
        bg.fnptr_next_uint32 = args[3]
        bg.bit_generator = cgutils.get_null_value(bg.bit_generator.type)
        g = cgutils.create_struct_proxy(_GEN)(context, builder)
        g.bit_generator = bg._getvalue()
        g.meminfo = cgutils.get_null_value(g.meminfo.type)
        g.parent = cgutils.get_null_value(g.parent.type)
        return g._getvalue()

    return sig, codegen
