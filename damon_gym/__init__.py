"""damon-gym: a simulator of Linux DAMON/DAMOS on multi-node memory systems, with Gymnasium
environments over it. Importing the package registers the ``DamonGym/...`` environment ids."""

from __future__ import annotations

__version__ = "0.1.0"


def _register() -> None:
    try:
        from damon_gym.envs.registration import register_envs
    except ImportError:  # gymnasium missing: the simulator still works
        return
    register_envs()


_register()
