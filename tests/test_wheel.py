"""The wheel works on its own: built from a copy of the sources, installed into a fresh venv
(not editable), it ships every package and config file, `damon-gym scenarios list` lists the
scenarios and an env plays a few steps; the agents live under ``damon_gym.agents`` only.

The fresh venv borrows the project venv's dependencies through a ``.pth`` line naming its
site-packages; a directory named that way is put on ``sys.path`` but its own ``.pth`` files
are not run, so the editable install's finder stays out (checked below).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: what the build reads; the rest of the checkout (tests, docs, out/) stays behind
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "damon_gym", "agents", "configs")
#: the repository folder -> where its files land in the wheel
LAYOUT = {"damon_gym": "damon_gym", "agents": "damon_gym/agents", "configs": "damon_gym/configs"}


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 180):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def _tree_files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(ROOT) for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel path, the fresh venv's python, its bin folder, a clean environment, a cwd)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
          "--quiet", "-w", str(dist)], cwd=src)
    (wheel,) = dist.glob("damon_gym-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
          "--no-index", "--quiet", str(wheel)], cwd=tmp)
    fresh_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           cwd=tmp).stdout.strip())
    (fresh_site / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = tmp / "work"  # an empty cwd: nothing of the checkout is importable from it
    work.mkdir()
    return wheel, py, venv / "bin", env, work


def test_wheel_ships_every_module_and_config_file_under_damon_gym(installed):
    wheel = installed[0]
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {str(Path(LAYOUT[p.parts[0]], *p.parts[1:])) for folder in LAYOUT
            for p in _tree_files(ROOT / folder)}
    missing = sorted(want - names)
    assert not missing, f"not in the wheel (pyproject.toml [tool.setuptools]): {missing}"
    tops = {n.split("/")[0] for n in names}
    assert tops == {"damon_gym", wheel.name.split("-py")[0] + ".dist-info"}, tops


def test_installed_cli_lists_the_scenarios(installed):
    _, _, bindir, env, work = installed
    r = _run([str(bindir / "damon-gym"), "scenarios", "list"], cwd=work, env=env)
    listed = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
    shipped = {p.stem for p in (ROOT / "configs" / "scenarios").glob("*.yaml")}
    assert shipped and listed >= shipped, f"missing: {sorted(shipped - listed)}"


def test_installed_env_plays_and_agents_live_under_damon_gym(installed):
    _, py, _, env, work = installed
    snippet = textwrap.dedent("""
        import importlib.util, json, sys
        import gymnasium as gym
        import damon_gym
        env = gym.make("DamonGym/Interleave-v0")
        obs, info = env.reset(seed=0)
        rewards = []
        for _ in range(3):
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            rewards.append(float(r))
        import damon_gym.agents.registry as reg
        print(json.dumps({
            "damon_gym": damon_gym.__file__,
            "agents": reg.__file__,
            "finders": [type(f).__name__ if not isinstance(f, type) else f.__name__
                        for f in sys.meta_path],
            "top_level_agents": importlib.util.find_spec("agents") is not None,
            "rewards": rewards,
            "n_agents": len(reg.agent_names()),
        }))
    """)
    out = json.loads(_run([str(py), "-I", "-c", snippet], cwd=work, env=env).stdout.splitlines()[-1])
    venv = py.parents[1]
    assert Path(out["damon_gym"]).is_relative_to(venv), out["damon_gym"]
    assert Path(out["agents"]).is_relative_to(venv / "lib"), out["agents"]
    assert "_EditableFinder" not in out["finders"], out["finders"]
    assert out["top_level_agents"] is False, "the wheel must not install a top-level `agents`"
    assert len(out["rewards"]) == 3 and all(r == r for r in out["rewards"]), out["rewards"]
    assert out["n_agents"] > 0
