"""damon_gym.perf: the memory-system performance model, beside the machine it models.

``latency`` (loaded latency curves and the closed-loop throughput fixed point), ``hotness``
(a phase's hotness curve H), ``optimum`` (the throughput-optimal placement X*),
``performance`` (the per-step model: throughput, latencies, migration cost) and ``table`` (the
model's figures for a topology, ``damon-gym model``). It reads the machine's topology from
``damon_gym.memory`` and nothing above it; ``damon_gym.memory`` does not import it.
"""
