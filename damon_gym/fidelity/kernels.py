"""Fetch a stock Debian kernel image without installing it.

apt-get runs with a private configuration (its lists, cache and sources under the cache
folder; nothing under /etc or /boot is touched) whose sources name only the Debian mirror the
host's own apt sources already use, with the suites that carry the kernels the harness
supports: trixie and trixie-security (6.12), trixie-backports (6.16 .. 7.x). The package is
downloaded with ``apt-get download`` and unpacked with ``dpkg -x``.

Series: ``6.12``, ``6.17`` ... (the newest package of that series) or ``7.x`` (the newest
7.* kernel of all suites). Newer Debian kernels split the image into ``linux-binary-*``
(vmlinuz) and ``linux-base-*`` (config); older ones ship ``linux-image-*``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from damon_gym.fidelity import HarnessError

SOURCE_FILES = ("/etc/apt/sources.list",)
SOURCE_DIR = "/etc/apt/sources.list.d"
SUITES = ("trixie", "trixie-security", "trixie-backports")
DEFAULT_CACHE = Path(os.environ.get("DAMON_GYM_KERNEL_CACHE",
                                    Path.home() / ".cache" / "damon-gym" / "kernels"))
_SERIES = re.compile(r"^(\d+)\.(\d+|x)$")


@dataclass
class KernelImage:
    series: str
    version: str          # the Debian ABI name, e.g. 6.12.118+deb13-amd64
    vmlinuz: Path
    config: Path | None
    package: str

    def to_dict(self) -> dict:
        return {"series": self.series, "version": self.version, "vmlinuz": str(self.vmlinuz),
                "config": None if self.config is None else str(self.config),
                "package": self.package}


def check_series(series: str) -> str:
    """``6.12``, ``6.17``, ``7.x`` (or any major.minor / major.x from 6.12 on)."""
    m = _SERIES.match(str(series).strip())
    if not m:
        raise HarnessError(f"kernel: got {series!r}; allowed: a series such as 6.12, 6.17 or "
                           "7.x (major.minor, or major.x for the newest of that major)")
    major = int(m.group(1))
    minor = None if m.group(2) == "x" else int(m.group(2))
    if major < 6 or (major == 6 and minor is not None and minor < 12):
        raise HarnessError(f"kernel: got {series!r}; allowed: 6.12 or newer (older Debian "
                           "kernels have no DAMOS migrate actions)")
    return str(series).strip()


def debian_mirrors(text_by_file: dict[str, str]) -> tuple[str, str | None]:
    """(main mirror, security mirror or None) from apt source files (one-line ``deb URI
    suite ...`` or deb822 ``URIs:``), commented lines ignored. Only URIs whose path ends in
    ``/debian`` or ``/debian-security`` count: other repositories are not Debian mirrors."""
    uris: list[str] = []
    for text in text_by_file.values():
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if s.startswith("deb ") or s.startswith("deb-src "):
                toks = [t for t in s.split()[1:] if not t.startswith("[")]
                toks = [t for t in toks if "=" not in t]
                if toks:
                    uris.append(toks[0])
            elif s.lower().startswith("uris:"):
                uris += s.split(":", 1)[1].split()
    main = sec = None
    for u in uris:
        u = u.rstrip("/")
        if not re.match(r"^https?://", u):
            continue
        if u.endswith("/debian-security") and sec is None:
            sec = u
        elif u.endswith("/debian") and main is None:
            main = u
    if main is None:
        raise HarnessError("apt sources: no Debian mirror (a URI ending in /debian) in "
                           f"{', '.join(text_by_file) or 'the host apt sources'}; the kernel is "
                           "fetched only from the mirror the host already uses")
    return main, sec


def host_apt_sources() -> dict[str, str]:
    files = [Path(f) for f in SOURCE_FILES]
    d = Path(SOURCE_DIR)
    if d.is_dir():
        files += sorted(p for p in d.iterdir() if p.suffix in (".list", ".sources"))
    return {str(p): p.read_text(errors="replace") for p in files if p.is_file()}


class KernelFetcher:
    """The private apt tree under ``cache`` and the unpacked kernels beside it."""

    def __init__(self, cache: Path = DEFAULT_CACHE, sources: dict[str, str] | None = None):
        self.cache = Path(cache)
        self.main, self.security = debian_mirrors(host_apt_sources() if sources is None
                                                  else sources)
        self.apt = self.cache / "apt"

    def sources_list(self) -> str:
        lines = [f"deb {self.main} trixie main", f"deb {self.main} trixie-backports main"]
        if self.security:
            lines.append(f"deb {self.security} trixie-security main")
        return "\n".join(lines) + "\n"

    def _env(self) -> dict:
        for sub in ("lists/partial", "archives/partial", "parts", "prefs"):
            (self.apt / sub).mkdir(parents=True, exist_ok=True)
        (self.apt / "sources.list").write_text(self.sources_list())
        conf = self.apt / "apt.conf"
        conf.write_text("\n".join([
            f'Dir::Etc::SourceList "{self.apt}/sources.list";',
            f'Dir::Etc::SourceParts "{self.apt}/parts";',
            f'Dir::Etc::PreferencesParts "{self.apt}/prefs";',
            f'Dir::State::Lists "{self.apt}/lists";',
            f'Dir::State::status "{self.apt}/status";',
            f'Dir::Cache "{self.apt}";',
            'APT::Architecture "amd64";', ""]))
        (self.apt / "status").touch()
        return {**os.environ, "APT_CONFIG": str(conf), "LC_ALL": "C"}

    def _run(self, cmd: list[str], cwd: Path | None = None) -> str:
        p = subprocess.run(cmd, env=self._env(), cwd=cwd, capture_output=True, text=True)
        if p.returncode:
            raise HarnessError(f"{' '.join(cmd)} failed (exit {p.returncode}): "
                               f"{(p.stderr or p.stdout).strip()[-600:]}")
        return p.stdout

    def update(self) -> None:
        self._run(["apt-get", "update", "-q"])

    def available(self) -> list[str]:
        """ABI names (``6.12.118+deb13-amd64``) with an image package in the lists."""
        out = self._run(["apt-cache", "pkgnames", "linux-"])
        names = set()
        for n in out.split():
            m = re.match(r"^linux-(?:image|binary)-(\d+\.\d+\.\d+(?:-\d+)?\+deb\d+-amd64)$", n)
            if m:
                names.add(m.group(1))
        return sorted(names, key=version_key)

    def pick(self, series: str, versions: list[str]) -> str:
        return pick_version(series, versions)

    def fetch(self, series: str, *, update: bool = True) -> KernelImage:
        check_series(series)
        if update:
            try:
                self.update()
            except HarnessError:
                have = self._unpacked()
                if not have:
                    raise
        vers = self.available() if (self.apt / "lists").exists() else []
        if not vers:
            vers = list(self._unpacked())
        ver = self.pick(series, vers)
        dest = self.cache / "x" / ver
        img = self._find(dest, ver, series)
        if img is not None:
            return img
        debs = self.cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        pkgs = [p for p in (f"linux-binary-{ver}", f"linux-base-{ver}", f"linux-image-{ver}")
                if self._has_package(p)]
        if not pkgs:
            raise HarnessError(f"kernel {ver}: no linux-image/linux-binary package in the lists")
        if f"linux-binary-{ver}" in pkgs:
            pkgs = [p for p in pkgs if not p.startswith("linux-image-")]
        self._run(["apt-get", "download", *pkgs], cwd=debs)
        dest.mkdir(parents=True, exist_ok=True)
        for p in pkgs:
            for f in debs.glob(f"{p}_*.deb"):
                subprocess.run(["dpkg", "-x", str(f), str(dest)], check=True)
                f.unlink()  # unpacked: the .deb is not needed again
        img = self._find(dest, ver, series)
        if img is None:
            raise HarnessError(f"kernel {ver}: unpacked {pkgs} but found no vmlinuz in {dest}")
        return img

    def _has_package(self, name: str) -> bool:
        p = subprocess.run(["apt-cache", "show", name], env=self._env(), capture_output=True,
                           text=True)
        return p.returncode == 0 and "Package:" in p.stdout

    def _unpacked(self) -> list[str]:
        return [d.name for d in (self.cache / "x").glob("*") if list(d.rglob("vmlinuz*"))]

    def _find(self, dest: Path, ver: str, series: str) -> KernelImage | None:
        vm = sorted(dest.rglob("vmlinuz*")) if dest.exists() else []
        if not vm:
            return None
        cfg = sorted(dest.rglob("config-*")) + sorted(dest.rglob("modules/*/config"))
        return KernelImage(series, ver, vm[0], cfg[0] if cfg else None, f"linux-*-{ver}")


def version_key(v: str) -> tuple:
    nums = re.findall(r"\d+", v.split("+")[0])
    return tuple(int(x) for x in nums)


def pick_version(series: str, versions: list[str]) -> str:
    """The newest ABI name of ``series`` among ``versions``; an error naming what exists."""
    check_series(series)
    major, minor = series.split(".")
    match = [v for v in versions if v.split(".")[0] == major
             and (minor == "x" or v.split(".")[1] == minor)]
    if not match:
        have = sorted({".".join(v.split(".")[:2]) for v in versions}, key=version_key)
        raise HarnessError(f"kernel: no Debian kernel of series {series} on the mirror's "
                           f"trixie suites; available series: {', '.join(have) or 'none'}")
    return max(match, key=version_key)


def tool_path(name: str) -> str | None:
    return shutil.which(name)
