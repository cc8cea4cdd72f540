import subprocess
import sys

from borderless.cli import main
from conftest import tiny_config_text


def test_cli_run_and_errors(tmp_path, sib200_dir, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_config_text(sib200_dir))
    assert main(["run", str(cfg), "--output", str(tmp_path / "o"), "--quiet", "--set", "federated.rounds=1"]) == 0
    assert "| eng_Latn |" in capsys.readouterr().out
    assert (tmp_path / "o" / "results.json").exists()
    # second run into the same folder is refused, nothing lost
    before = (tmp_path / "o" / "results.json").read_text()
    assert main(["run", str(cfg), "--output", str(tmp_path / "o"), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "o" / "results.json").read_text() == before
    # bad override and unknown language: clear errors, exit code 2
    assert main(["run", str(cfg), "-o", str(tmp_path / "p"), "--set", "train.lrr=1"]) == 2
    assert "did you mean lr" in capsys.readouterr().err
    assert main(["run", str(cfg), "-o", str(tmp_path / "q"), "--set", "data.languages=[\"hau_Latm\"]"]) == 2
    assert "hau_Latn" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()  # refused before anything was written


def test_languages_command(sib200_dir, capsys):
    assert main(["languages", "--data", str(sib200_dir)]) == 0
    assert "amh_Ethi eng_Latn hau_Latn" in capsys.readouterr().out


def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "borderless.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout


def test_languages_command_lists_any_preset(tmp_path, capsys):
    for lang in ("javanese", "sundanese"):
        (tmp_path / lang).mkdir()
        for split in ("train", "valid", "test"):
            (tmp_path / lang / f"{split}.csv").write_text("id,text,label\n1,a,positive\n")
    assert main(["languages", "--dataset", "nusax", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 nusax languages" in out and "javanese sundanese" in out
