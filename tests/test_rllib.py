"""scripts/train_rllib.py trains RLlib's PPO on a DamonGym env (issue 12). RLlib pins an older
Gymnasium than the project's main environment, so this runs where ``ray[rllib]`` imports:
``make test-rllib`` builds that environment (.venv-rllib) and runs this file there; elsewhere it
is skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _rllib_imports() -> bool:
    try:
        import ray.rllib  # noqa: F401
    except Exception:  # ImportError, or a dependency of RLlib's missing
        return False
    return True


pytestmark = pytest.mark.skipif(not _rllib_imports(), reason="ray[rllib] is not installed "
                                "here (make test-rllib)")


@pytest.mark.slow
def test_rllib_ppo_trains_on_the_env(tmp_path):
    out = tmp_path / "rllib"
    cmd = [sys.executable, str(REPO / "scripts" / "train_rllib.py"), "--task", "Interleave",
           "--suite", "smoke", "--iterations", "2", "--batch", "128", "--minibatch", "64",
           "--epochs", "1", "--env-runners", "1", "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = [json.loads(ln) for ln in (out / "progress.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert rows[-1]["env_steps"] >= 256
    assert (out / "checkpoint").is_dir()


def test_rllib_script_refuses_bad_input(tmp_path):
    p = subprocess.run([sys.executable, str(REPO / "scripts" / "train_rllib.py"), "--task",
                        "Nope", "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "--task: 'Nope'; allowed" in p.stderr
