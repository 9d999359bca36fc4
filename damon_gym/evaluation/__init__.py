"""Evaluation over the envs: episode roll-outs and the headroom table (``damon-gym headroom``)."""
