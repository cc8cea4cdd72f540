"""``requirements.lock`` against ``pyproject.toml``: every install uses the lock, and they must agree.

``pyproject.toml`` keeps the human-readable ranges; ``requirements.lock`` (made by ``uv pip compile``
through ``bash scripts/lock.sh``) pins every direct and transitive dependency with hashes for
CPython 3.11 on x86-64 Linux. torch is the one package left to pip (``scripts/setup.sh`` installs
``torch==2.13.0``, which pip finds as a CPU build; uv would pull CUDA wheels).

The lock records a fingerprint of the declared requirements, so editing ``pyproject.toml`` without
refreshing the lock is caught (``problems`` / ``tests/test_lockfile.py``), as is a pin outside its range.

``python -m borderless.lockfile build-requires``: print ``[build-system].requires`` (lock.sh locks them too);
``python -m borderless.lockfile stamp LOCK``: write the fingerprint line into a fresh lock;
``python -m borderless.lockfile check``: print the disagreements, exit 1 if any.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LEFT_TO_PIP = ("torch",)  # installed by scripts/setup.sh with pip, never locked
LOCKED_EXTRAS = ("test",)
FINGERPRINT_PREFIX = "# pyproject-requirements-sha256: "
REFRESH = "bash scripts/lock.sh"


def declared(pyproject: Path) -> list[Requirement]:
    """Runtime, test and build requirements, as pyproject.toml states them."""
    data = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))
    project = data["project"]
    texts = list(project.get("dependencies", []))
    for extra in LOCKED_EXTRAS:
        texts += project.get("optional-dependencies", {}).get(extra, [])
    texts += data.get("build-system", {}).get("requires", [])
    return [Requirement(t) for t in texts]


def fingerprint(requirements: list[Requirement]) -> str:
    lines = sorted(f"{canonicalize_name(r.name)}{r.specifier}{';' + str(r.marker) if r.marker else ''}"
                   for r in requirements)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass
class Lock:
    pins: dict[str, Version] = field(default_factory=dict)
    hashes: dict[str, int] = field(default_factory=dict)  # name → number of --hash entries
    fingerprint: str | None = None


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def read_lock(path: Path) -> Lock:
    lock, current = Lock(), None
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith(FINGERPRINT_PREFIX):
            lock.fingerprint = line[len(FINGERPRINT_PREFIX):].strip()
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            if current:
                lock.hashes[current] = lock.hashes.get(current, 0) + 1
            continue
        match = _PIN.match(line)
        if not match:
            raise ValueError(f"{path}: {raw!r} is not a '==' pin; regenerate the lock with `{REFRESH}`")
        current = canonicalize_name(match.group(1))
        lock.pins[current] = Version(match.group(3))
        lock.hashes.setdefault(current, 0)
        lock.hashes[current] += line.count("--hash=")
    return lock


def problems(pyproject: Path = ROOT / "pyproject.toml", lock_path: Path = ROOT / "requirements.lock") -> list[str]:
    """Every way the lock disagrees with pyproject.toml (empty: they agree)."""
    if not Path(lock_path).exists():
        return [f"{lock_path}: missing; create it with `{REFRESH}`"]
    reqs, lock = declared(pyproject), read_lock(lock_path)
    out = []
    if lock.fingerprint != fingerprint(reqs):
        out.append(f"{lock_path}: made for other requirements than {pyproject} states now "
                   f"(fingerprint {lock.fingerprint} vs {fingerprint(reqs)}); refresh it with `{REFRESH}`")
    for req in reqs:
        name = canonicalize_name(req.name)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        if name in LEFT_TO_PIP:
            if name in lock.pins:
                out.append(f"{lock_path}: pins {name}, which is left to pip (uv would pick a CUDA build); "
                           f"refresh with `{REFRESH}`")
            continue
        if name not in lock.pins:
            out.append(f"{lock_path}: {req} is required by {pyproject} but not locked; refresh with `{REFRESH}`")
        elif not req.specifier.contains(lock.pins[name], prereleases=True):
            out.append(f"{lock_path}: {name}=={lock.pins[name]} is outside {pyproject}'s range '{req}'; "
                       f"refresh with `{REFRESH}`")
    unhashed = sorted(n for n, k in lock.hashes.items() if k == 0)
    if unhashed:
        out.append(f"{lock_path}: no --hash for {', '.join(unhashed)}; refresh with `{REFRESH}`")
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["build-requires"]:
        data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        print("\n".join(data.get("build-system", {}).get("requires", [])))
        return 0
    if argv[:1] == ["stamp"] and len(argv) == 2:
        path = Path(argv[1])
        text = path.read_text(encoding="utf-8")
        lines = [l for l in text.splitlines() if not l.startswith(FINGERPRINT_PREFIX)]
        stamp = FINGERPRINT_PREFIX + fingerprint(declared(ROOT / "pyproject.toml"))
        head = next((i for i, l in enumerate(lines) if not l.startswith("#")), len(lines))
        path.write_text("\n".join([*lines[:head], stamp, *lines[head:]]) + "\n", encoding="utf-8")
        return 0
    if argv[:1] == ["check"]:
        found = problems()
        print("\n".join(found) if found else "requirements.lock agrees with pyproject.toml")
        return 1 if found else 0
    print("usage: python -m borderless.lockfile build-requires | stamp LOCK | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
