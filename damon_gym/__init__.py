"""damon-gym: a simulator of Linux DAMON/DAMOS on multi-node memory systems."""

from __future__ import annotations

__version__ = "0.1.0"
