"""The layers hold at run time, not only in the source: each check imports in a fresh
interpreter and reads ``sys.modules`` there (this process has long loaded everything).

* the simulator stands without Gymnasium;
* registering the DamonGym ids (importing gymnasium and damon_gym, in either order) loads
  neither the envs nor the simulator; ``gym.make`` does (the positive control: the same
  check sees the simulator once it is there);
* the workloads load nothing of the ``damon`` layer, reading a record included.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return its ``result`` (JSON) and the damon_gym
    modules and a few third-party ones it has loaded."""
    script = textwrap.dedent(code) + textwrap.dedent("""
        import json, sys
        print(json.dumps({
            "result": globals().get("result"),
            "modules": sorted(m for m in sys.modules
                              if m.startswith("damon_gym") or m in ("gymnasium", "numba")),
        }))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_the_simulator_imports_no_gymnasium():
    out = loaded_after("import damon_gym.simulation")
    assert "damon_gym.simulation" in out["modules"]  # the import did happen
    assert "gymnasium" not in out["modules"]
    assert not [m for m in out["modules"] if m.startswith("damon_gym.envs")], out["modules"]


@pytest.mark.parametrize("order", ["gymnasium first", "damon_gym first"])
def test_registering_the_ids_loads_neither_envs_nor_simulator(order):
    first, second = ("gymnasium", "damon_gym") if order == "gymnasium first" else \
        ("damon_gym", "gymnasium")
    out = loaded_after(f"""
        import {first}
        import {second}
        import gymnasium
        result = sorted(i for i in gymnasium.registry if i.startswith("DamonGym/"))
    """)
    ids = out["result"]
    assert "DamonGym/Interleave-v0" in ids
    assert len(ids) > 3  # the per-scenario ids too
    heavy = [m for m in out["modules"] if m in ("damon_gym.simulation", "damon_gym.envs.base",
                                                 "damon_gym.envs.tasks", "numba")
             or m.startswith(("damon_gym.damon", "damon_gym.damos", "damon_gym.memory"))]
    assert not heavy, f"registration loaded {heavy}"


@pytest.mark.parametrize("first", ["import damon_gym.envs.tasks", "import damon_gym.envs",
                                   "import gymnasium; import damon_gym",
                                   "import damon_gym; import gymnasium"])
def test_ids_registered_whatever_is_imported_first(first):
    """The ids exist after any import order, including one where the package's own env
    modules bring Gymnasium in (the registration module is then half-run when Gymnasium's
    import hook fires)."""
    out = loaded_after(first + """
import gymnasium
result = sorted(k for k in gymnasium.registry if k.startswith("DamonGym/"))[:1]
""")
    assert out["result"] == ["DamonGym/Interleave-Anchor1StreamSpr1to1-v0"]


def test_make_loads_the_simulator():
    """The positive control of the test above: after gym.make the simulator is loaded."""
    out = loaded_after("""
        import gymnasium, damon_gym
        gymnasium.make("DamonGym/Interleave-v0")
    """)
    assert {"damon_gym.simulation", "damon_gym.envs.tasks"} <= set(out["modules"])


def test_workloads_and_records_load_nothing_of_damon():
    out = loaded_after("""
        import damon_gym.workloads.replay
        import damon_gym.formats.record
    """)
    assert "damon_gym.workloads.replay" in out["modules"]
    below = [m for m in out["modules"] if m.startswith(("damon_gym.damon", "damon_gym.damos",
                                                        "damon_gym.formats.params"))]
    assert not below, f"workloads/replay loaded {below}"


#: the layers above the simulation: they use Simulation and its builders (damon_gym.build,
#: damon_gym.recorder, damon_gym.scenario), never the simulator's own packages
ABOVE = ("damon_gym/envs", "damon_gym/evaluation", "damon_gym/training", "agents",
         "damon_gym/cli.py", "damon_gym/cli_damos.py", "damon_gym/cli_envs.py",
         "damon_gym/cli_eval.py", "damon_gym/cli_help.py", "damon_gym/cli_train.py")
BELOW = ("damon_gym.memory", "damon_gym.damon", "damon_gym.formats")


def _imports(path) -> list[tuple[int, str]]:
    """Every module an ``import``/``from`` names in ``path`` (type-checking ones included)."""
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
    return out


def test_nothing_above_the_simulation_imports_its_packages():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = []
    for a in ABOVE:
        p = root / a
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    assert len(files) > 20  # the walk found the layers
    bad = [f"{f.relative_to(root)}:{line}: {mod}" for f in files for line, mod in _imports(f)
           if mod == "damon_gym.damon_view" or mod.startswith(tuple(b + "." for b in BELOW))
           or mod in BELOW]
    assert not bad, "\n".join(bad)


def _module_graph():
    """Every damon_gym module and the damon_gym modules it imports (any import statement,
    inside functions and TYPE_CHECKING blocks too; ``from pkg import name`` points at
    ``pkg.name`` when that is a module)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "damon_gym"
    mods = {}
    for p in root.rglob("*.py"):
        rel = p.relative_to(root.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        mods[name] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(p.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for t in targets:
                if t in mods and t != m:
                    graph[m].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_modules():
    """No two modules import each other, directly or round a circle, counting the imports
    made only for type checking (a protocol names what one module needs of another)."""
    graph = _module_graph()
    assert len(graph) > 100 and graph["damon_gym.damon.core"]  # the walk found the package
    # the check can fail: a made-up back edge closes a circle it reports
    bad = {k: set(v) for k, v in graph.items()}
    bad["damon_gym.damon.target"].add("damon_gym.damon.core")
    assert any("damon_gym.damon.target" in c for c in _cycles(bad))
    assert _cycles(graph) == []
