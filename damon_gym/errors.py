"""The exceptions damon-gym raises for bad input, one hierarchy for library users.

Every error about input -- a scenario, topology, suite, workload, masim config, damo file,
YAML file, unit string, env argument or action -- is a :class:`DamonGymError`, which is also a
``ValueError`` (so ``except ValueError`` keeps working). Its message names the file or field,
the value and what is allowed, one line per problem. The CLI prints those lines after
``damon-gym: error:`` and exits 2; anything else is a bug, printed as one line with where to
report it, exit 1.

::

    DamonGymError (ValueError)
    ├── InputFileError       a file that cannot be read or is not UTF-8 text
    ├── UnitError            units.py: "5 ms", "1 GiB", ...
    ├── YamlError            safe_yaml.py: duplicate keys, alias bombs, not UTF-8
    ├── TopologyError        memory/topology.py
    ├── MasimConfigError     workloads/masim.py
    ├── DamoFormatError      formats/: damo parameter files and records
    ├── ScenarioError        scenario.py
    ├── SuiteError           suites.py
    └── RecipeError          envs/recipes.py: a scenario's DAMON block vs a task's schemes
"""

from __future__ import annotations

__all__ = ["DamonGymError", "DamonGymWarning", "InputFileError", "REPORT_URL", "read_text"]

#: where the CLI tells users to report an unexpected error
REPORT_URL = "the project's issue tracker (damon-gym issues)"


class DamonGymError(ValueError):
    """Bad input: the message names the file or field, the value and what is allowed."""


class DamonGymWarning(UserWarning):
    """Input the kernel accepts but cannot act on (e.g. a migration destination node that
    does not exist): the simulation runs it as the kernel would and says so on stderr."""


class InputFileError(DamonGymError):
    """A file that cannot be read, or is not UTF-8 text."""


def read_text(path, what: str = "file") -> str:
    """The UTF-8 text of ``path``; an unreadable or binary file is an :class:`InputFileError`
    naming it (``what`` says what the file was meant to be)."""
    from pathlib import Path

    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise InputFileError(f"{p}: cannot read the {what}: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{p}: not UTF-8 text (byte {e.start}); allowed: a {what} in "
                             "UTF-8 text") from None
