"""requirements.lock and pyproject.toml must agree; every install (setup.sh, CI) uses the lock."""

import shutil
from pathlib import Path

import pytest

from borderless.lockfile import declared, fingerprint, problems, read_lock

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def copies(tmp_path):
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(REPO / "requirements.lock", tmp_path / "requirements.lock")
    return tmp_path / "pyproject.toml", tmp_path / "requirements.lock"


def test_the_committed_lock_agrees_with_pyproject():
    assert problems(REPO / "pyproject.toml", REPO / "requirements.lock") == []


def test_lock_pins_everything_with_hashes_and_leaves_torch_to_pip():
    lock = read_lock(REPO / "requirements.lock")
    assert "torch" not in lock.pins
    assert all(n > 0 for n in lock.hashes.values())
    # transitive dependencies are locked too, not just the direct ones
    assert {"protobuf", "grpcio", "huggingface-hub", "setuptools"} <= set(lock.pins)
    # the pair that broke fresh installs: sentencepiece below 0.2.3 with flwr's protobuf < 7
    assert lock.pins["sentencepiece"].release < (0, 2, 3) and lock.pins["protobuf"].major < 7


def test_setup_installs_the_torch_pyproject_pins():
    torch_req = next(r for r in declared(REPO / "pyproject.toml") if r.name == "torch")
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert f'"torch{torch_req.specifier}"' in setup
    assert "--require-hashes" in setup and "-r requirements.lock" in setup


def test_a_new_dependency_without_relocking_is_caught(copies):
    pyproject, lock = copies
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"tqdm",', '"tqdm",\n    "hypothesis>=6",'))
    found = problems(pyproject, lock)
    assert any("fingerprint" in p for p in found) and any("hypothesis>=6" in p and "not locked" in p for p in found)
    assert all("bash scripts/lock.sh" in p for p in found)


def test_a_pin_outside_its_range_is_caught(copies):
    pyproject, lock = copies
    pin = read_lock(lock).pins["peft"]
    lock.write_text(lock.read_text().replace(f"peft=={pin}", "peft==0.20.0"))
    assert any("peft==0.20.0 is outside" in p for p in problems(pyproject, lock))


def test_missing_hashes_and_a_locked_torch_are_caught(copies):
    pyproject, lock = copies
    lines, in_tqdm = [], False
    for line in lock.read_text().splitlines():
        if line.startswith("tqdm=="):
            in_tqdm, line = True, line.split(" ")[0]
        elif not line.startswith(" "):
            in_tqdm = False
        if not (in_tqdm and "--hash=" in line):
            lines.append(line)
    lock.write_text("\n".join(lines) + "\ntorch==2.13.0 \\\n    --hash=sha256:00\n")
    found = problems(pyproject, lock)
    assert any("no --hash for tqdm" in p for p in found)
    assert any("pins torch" in p for p in found)


def test_fingerprint_ignores_order_but_not_ranges(copies):
    pyproject, _ = copies
    reqs = declared(pyproject)
    assert fingerprint(reqs) == fingerprint(list(reversed(reqs)))
    pyproject.write_text(pyproject.read_text().replace('"scipy>=1.14"', '"scipy>=1.15"'))
    assert fingerprint(declared(pyproject)) != fingerprint(reqs)
