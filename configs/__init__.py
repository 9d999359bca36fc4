"""The shipped configuration files, installed as the package ``damon_gym.configs`` (see
``[tool.setuptools]`` in pyproject.toml): ``scenarios/``, ``suites/``, ``topologies/`` and
``workloads/`` hold YAML (and the masim configs and damo records the workloads name).

``CONFIG_DIR`` is this folder, found through the import system, so the same rule holds in an
editable checkout (the repository's ``configs/``) and in an installed wheel
(``site-packages/damon_gym/configs``).
"""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
SCENARIO_DIR = CONFIG_DIR / "scenarios"
