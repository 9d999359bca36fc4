"""damon-gym: a simulator of Linux DAMON/DAMOS on multi-node memory systems, with Gymnasium
environments over it.

Importing the package makes the ``DamonGym/...`` environment ids available to Gymnasium
without importing Gymnasium itself (so the simulator, ``import damon_gym.simulation``, stands
without it): if Gymnasium is already imported the ids are registered at once, otherwise they
are registered right after Gymnasium's own import, whenever that comes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

__version__ = "0.1.0"


def _register() -> None:
    # importing the registration module registers the ids. When Gymnasium's import was the
    # registration module's own (``import damon_gym.envs...`` before Gymnasium), the module is
    # still half-run here: the import below returns it as it is, and it registers when done.
    try:
        import damon_gym.envs.registration  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "gymnasium":
            raise
        # gymnasium missing: the simulator still works


class _RegisterAfterGymnasium(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``gymnasium`` is about to be imported it wraps the real
    loader so that the DamonGym ids are registered once the module has run, then steps
    aside."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register()

        loader.exec_module = exec_then_register
        return spec


if "gymnasium" in sys.modules:
    _register()
elif not any(isinstance(f, _RegisterAfterGymnasium) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterGymnasium())
