import pytest

from borderless.config import Config, ConfigError, load_config, parse_override


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_loads_toml_and_overrides(tmp_path):
    p = write(tmp_path, '[data]\nlanguages = ["eng_Latn", "yor_Latn"]\n[train]\nlr = 0.5\n')
    cfg = load_config(p, ["train.lr=0.25", "federated.rounds=3", "run.paradigms=[\"federated\"]"])
    assert cfg.data.languages == ("eng_Latn", "yor_Latn")
    assert cfg.train.lr == 0.25 and cfg.federated.rounds == 3
    assert cfg.run.paradigms == ("federated",)
    with pytest.raises(Exception):
        cfg.train.lr = 1.0  # frozen


def test_int_is_accepted_where_float_expected(tmp_path):
    assert load_config(write(tmp_path, "[train]\nlr = 1\n")).train.lr == 1.0


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    p = write(tmp_path, "[train]\nlearning_rate = 0.1\nlr = 0.1\n[federated]\nround = 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value) and "train" in str(err.value) and "learning_rate" in str(err.value)
    with pytest.raises(ConfigError, match="did you mean rounds"):
        load_config(write(tmp_path, "[federated]\nround = 3\n"))


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'traning'"):
        load_config(write(tmp_path, "[traning]\nlr = 0.1\n"))


@pytest.mark.parametrize("text,key", [
    ('[train]\nlr = "fast"\n', "train.lr"),
    ("[train]\nbatch_size = 1.5\n", "train.batch_size"),
    ("[data]\nlanguages = \"eng_Latn\"\n", "data.languages"),
    ("[federated]\nrounds = true\n", "federated.rounds"),
])
def test_wrong_types_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("override,key", [
    ("run.paradigms=[\"fedrated\"]", "run.paradigms"),
    ("train.optimizer=\"lion\"", "train.optimizer"),
    ("federated.rounds=0", "federated.rounds"),
    ("method.name=\"adapterx\"", "method.name"),
])
def test_invalid_values_are_refused(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[train\nlr=1"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_override_parsing():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("backbone.name=tiny-random") == (["backbone", "name"], "tiny-random")
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.lr")


def test_to_dict_round_trips(tmp_path):
    import tomli_w

    cfg = load_config(None, ["train.lr=0.02", "data.languages=[\"hau_Latn\"]"])
    p = write(tmp_path, tomli_w.dumps(cfg.to_dict()))
    assert load_config(p) == cfg
    assert isinstance(cfg, Config)
