"""A backbone's cache folder is converted once, whole, even when several processes ask at once."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from borderless.backbones import resolve
from borderless.backbones.cache_folder import convert_once, is_whole, written_whole


def test_a_second_converter_waits_for_the_first_and_does_not_convert_again(tmp_path):
    out = tmp_path / "cache" / "model"
    first_in, first_may_finish = threading.Event(), threading.Event()
    calls: list[str] = []
    results: dict[str, bool] = {}

    def convert(name):
        def run(folder):
            calls.append(name)
            if name == "first":
                first_in.set()
                assert first_may_finish.wait(30)
            with written_whole(folder) as tmp:
                (tmp / "borderless.json").write_text("{}")
        return run

    def worker(name):
        results[name] = convert_once(out, convert(name))

    a = threading.Thread(target=worker, args=("first",))
    a.start()
    assert first_in.wait(30)
    b = threading.Thread(target=worker, args=("second",))
    b.start()
    b.join(timeout=0.3)
    assert b.is_alive(), "the second caller did not wait for the conversion in progress"
    first_may_finish.set()
    a.join(30)
    b.join(30)
    assert calls == ["first"] and results == {"first": True, "second": False}
    assert is_whole(out) and not out.with_name("model.partial").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]  # no lock file left behind


def test_a_finished_folder_is_not_locked_or_converted(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "borderless.json").write_text("{}")
    assert convert_once(out, lambda folder: pytest.fail("converted a whole folder")) is False


def test_a_failed_conversion_releases_the_lock_for_the_next_try(tmp_path):
    out = tmp_path / "model"

    def broken(folder):
        with written_whole(folder):
            raise ValueError("damaged wheel")

    with pytest.raises(ValueError):
        convert_once(out, broken)

    def good(folder):
        with written_whole(folder) as tmp:
            (tmp / "borderless.json").write_text("{}")

    assert convert_once(out, good) is True and is_whole(out)


@pytest.mark.real
def test_two_processes_on_an_empty_cache_convert_e5_small_once(tmp_path):
    """Two interpreters ask for multilingual-e5-small in one empty cache at the same moment (as the
    SuperNodes of `deploy local` do): both load it, and it was converted once."""
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout); "
            "from borderless.backbones.resolve import ensure_e5_small; "
            f"print('done', ensure_e5_small({str(tmp_path)!r}))")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum(o.count("converting multilingual-e5-small") for o in outs) == 1, outs
    folder = resolve.e5_small_dir(tmp_path)
    assert is_whole(folder) and sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
