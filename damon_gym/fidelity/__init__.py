"""Fidelity against real kernels: run a scenario on real DAMON in a qemu guest
(:mod:`.kernels` fetches a Debian kernel, :mod:`.guest` builds the initramfs, :mod:`.qemu`
boots it, :mod:`.console` parses what the guest prints) and compare the simulator with
those runs (:mod:`.compare`). The CLI is ``damon-gym kernel-run`` and ``damon-gym fidelity``
(damon_gym/cli_kernel.py); docs/fidelity.md explains both."""

from damon_gym.errors import DamonGymError


class HarnessError(DamonGymError):
    """A problem with the real-kernel harness: a missing tool, a kernel that cannot be
    fetched, a guest that refused the parameters or a console log that cannot be read."""


__all__ = ["HarnessError"]
