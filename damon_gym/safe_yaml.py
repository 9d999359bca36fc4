"""Reading the project's YAML files (scenarios, suites, topologies, presets, damo parameters)
safely: one function, clear errors, bounded work.

* Duplicate keys in a mapping are refused, naming the key and both lines (plain YAML keeps the
  last one silently).
* Anchors and aliases work (scenario files use them), but a document whose aliases expand to
  more than ``MAX_NODES`` nodes (a "billion laughs" bomb) or that nests deeper than
  ``MAX_DEPTH`` is refused before anything walks it.
* A file that is not UTF-8 text, or not YAML, is refused naming the file.

Every problem is a :class:`YamlError` (a ``ValueError``) whose message starts with the file.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from damon_gym.caches import bounded_put
from damon_gym.errors import DamonGymError, read_text

MAX_NODES = 200_000
MAX_DEPTH = 64

__all__ = ["MAX_DEPTH", "MAX_NODES", "YamlError", "read_yaml", "parse_yaml"]


class YamlError(DamonGymError):
    """A YAML file that cannot be read as the project reads YAML."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    # the mapping's own keys, not those a merge key (<<) brings in: those may be overridden
    own = [k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]
    seen: dict[Any, int] = {}
    for key_node in own:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: SafeLoader says so below
            break
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first}, again at line "
                f"{line}); allowed: each key once", key_node.start_mark)
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _check_size(root: yaml.Node, source: str) -> None:
    """The expanded size and depth of the node graph (aliases counted each time they are
    used), computed once per node: refuse bombs before a consumer walks them."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in size:
            continue
        kids: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        if not done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in size)
            continue
        size[key] = 1 + sum(size.get(id(k), 1) for k in kids)
        depth[key] = 1 + max((depth.get(id(k), 1) for k in kids), default=0)
        if size[key] > MAX_NODES:
            raise YamlError(f"{source}: the document expands to more than {MAX_NODES} nodes "
                            "(aliases repeating aliases?); allowed: smaller documents")
        if depth[key] > MAX_DEPTH:
            raise YamlError(f"{source}: nesting deeper than {MAX_DEPTH} levels; allowed: at "
                            f"most {MAX_DEPTH}")


def parse_yaml(text: str, source: str = "<text>") -> Any:
    """``text`` as YAML, with the checks of the module docstring."""
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(limit, 10_000))
        try:
            root = yaml.compose(text, Loader=_Loader)
        except RecursionError:
            raise YamlError(f"{source}: nesting deeper than {MAX_DEPTH} levels; allowed: at "
                            f"most {MAX_DEPTH}") from None
        if root is None:
            return None
        _check_size(root, source)
        loader = _Loader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise YamlError(f"{source}:{where}: not valid YAML: {what}") from None
    finally:
        sys.setrecursionlimit(limit)


def read_yaml(path: str | Path) -> Any:
    """The YAML document in the file at ``path`` (see :func:`parse_yaml`). A text already
    parsed in this process is not parsed again (every env reset of a suite loads its scenario
    files, and this pure-Python parser costs milliseconds where reading costs microseconds);
    each call returns its own copy, which the caller may change."""
    p = Path(path)
    text = read_text(p, "YAML file")
    key = (str(p), text)
    hit = _PARSED.get(key)
    if hit is None:
        hit = bounded_put(_PARSED, key, parse_yaml(text, str(p)), 512)
    return copy.deepcopy(hit)


_PARSED: dict[tuple, Any] = {}
