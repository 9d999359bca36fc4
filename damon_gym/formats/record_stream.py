"""Writing a damo record file as the snapshots arrive (``damon-gym record``), so memory stays
flat however long the recording; the file is the same JSON :func:`write_record` writes."""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import replace as dataclass_replace
from functools import partial
from pathlib import Path
from typing import Any

from damon_gym.formats.record import (
    DamonRecord,
    RecordSnapshot,
    _check,
    _record_kv,
    _snapshot_kv,
)

__all__ = ["RecordStreamWriter"]


class RecordStreamWriter:
    """A damo record file written as the snapshots arrive, so memory stays flat however long
    the recording: each record's snapshots are serialised at once into a spool file of their
    own beside ``path``; :meth:`close` assembles the file (the same JSON as
    :func:`write_record` of the same records) and replaces ``path`` atomically; :meth:`abort`
    (or an exception inside a ``with`` block) removes everything it wrote."""

    def __init__(self, path: str | os.PathLike[str], fmt: str = "json_compressed") -> None:
        import tempfile

        if fmt not in ("json_compressed", "json"):
            raise ValueError(f"fmt: got {fmt!r}; expected 'json_compressed' or 'json'")
        self.path, self.fmt = Path(path), fmt
        self._dir = Path(tempfile.mkdtemp(prefix=f".spool-{self.path.name}.",
                                          dir=self.path.resolve().parent))
        self._heads: dict[tuple, DamonRecord] = {}
        self._files: dict[tuple, Any] = {}
        self._counts: dict[tuple, int] = {}

    def add(self, key: tuple, head: DamonRecord, snapshot: RecordSnapshot) -> None:
        """Append ``snapshot`` to the record ``key`` (``head``: its fields, snapshots unused)."""
        if key not in self._files:
            self._heads[key] = head
            self._files[key] = open(self._dir / f"{len(self._files)}.json", "w")
            self._counts[key] = 0
        _check(len(self._heads) - 1, self._counts[key], snapshot)
        f = self._files[key]
        if self._counts[key]:
            f.write(",")
        f.write(json.dumps(_snapshot_kv(snapshot), separators=(",", ":")))
        self._counts[key] += 1

    def close(self) -> None:
        """Assemble the file (records in key order) and replace ``path`` with it."""
        from damon_gym.files import atomic_path

        try:
            for f in self._files.values():
                f.close()
            comp = zlib.compressobj() if self.fmt == "json_compressed" else None
            with atomic_path(self.path) as tmp, open(tmp, "wb") as out:
                def put(text: str) -> None:
                    data = text.encode()
                    out.write(comp.compress(data) if comp is not None else data)

                put("[")
                for i, key in enumerate(sorted(self._heads)):
                    head = dataclass_replace(self._heads[key], snapshots=[])
                    text = json.dumps(_record_kv(head), separators=(",", ":"))
                    before, after = text.split('"snapshots":[]', 1)
                    put(("," if i else "") + before + '"snapshots":[')
                    with open(self._files[key].name) as spool:
                        for chunk in iter(partial(spool.read, 1 << 20), ""):
                            put(chunk)
                    put("]" + after)
                put("]")
                if comp is not None:
                    out.write(comp.flush())
        finally:
            self.abort()

    def abort(self) -> None:
        """Remove the spool files (and with them any partial output)."""
        import shutil

        for f in self._files.values():
            f.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RecordStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
