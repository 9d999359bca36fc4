"""The package layout; the metadata is in pyproject.toml.

The repository keeps ``agents/`` and ``configs/`` at its top level; they install as
``damon_gym.agents`` and ``damon_gym.configs`` (``package_dir``), because a top-level
``agents`` would clash with other distributions and the configs must travel with the code.
Packages are found, not listed, so a new subpackage ships without an edit here;
tests/test_wheel.py fails if a module or a config file is missing from the wheel.
"""

from setuptools import find_namespace_packages, find_packages, setup

#: configs/ sub-folders (scenarios, suites, topologies, workloads/...): data only
CONFIG_FOLDERS = [f"damon_gym.configs.{p}" for p in
                  find_namespace_packages("configs", exclude=["__pycache__", "*.__pycache__"])]

setup(
    packages=[
        *find_packages(include=["damon_gym", "damon_gym.*"]),
        "damon_gym.agents",
        *(f"damon_gym.agents.{p}" for p in find_packages("agents")),
        "damon_gym.configs",
        *CONFIG_FOLDERS,
    ],
    package_dir={"damon_gym.agents": "agents", "damon_gym.configs": "configs"},
    # every file of a config folder, whatever its kind (YAML, masim .cfg, damo records, notes)
    package_data={"damon_gym": ["py.typed"], **{p: ["*"] for p in CONFIG_FOLDERS}},
)
