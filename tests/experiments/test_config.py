"""Typed study configs: ``cnnlab config``, ``--set`` by type, ``--config FILE``, and what metrics.json records."""

import dataclasses
import json
import re
import subprocess
import typing
from pathlib import Path

import pytest

import cnnlab.studies as experiments
from cnnlab import cli
from cnnlab.studies._config import ConfigError, StudyConfig, coerce, parse_text, setting
from tests.experiments.test_cli_errors import ROOT, TINY


@dataclasses.dataclass(frozen=True)
class _Kinds(StudyConfig):
    dataset: typing.Literal["mnist", "fashion_mnist"] = setting("mnist", "d")
    rate: float = setting(1e-3, "a rate", minimum=0)
    classes: tuple[int, ...] = setting((1, 5, 6), "some digits")
    pairs: tuple[tuple[int, int], ...] = setting(((1, 7),), "pairs")
    count: int | None = setting(None, "a count or all", minimum=1)
    name: str = setting("adam", "a word")
    flag: bool = setting(False, "a switch")


@pytest.mark.parametrize(
    "key,text,value",
    [
        ("rate", "3", 3.0),
        ("rate", "2.5e-4", 2.5e-4),
        ("classes", "1,2", (1, 2)),
        ("classes", "[4]", (4,)),
        ("pairs", "((2, 3), (4, 5))", ((2, 3), (4, 5))),
        ("count", "None", None),
        ("count", "12", 12),
        ("name", "123", "123"),  # text stays text
        ("name", "sgd", "sgd"),
        ("flag", "True", True),
        ("dataset", "fashion_mnist", "fashion_mnist"),
    ],
)
def test_set_text_is_parsed_by_the_fields_type(key, text, value):
    got = parse_text(_Kinds, key, text, f"--set {key}")
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "key,text,words",
    [
        ("rate", "fast", "--set rate must be a finite number; got 'fast'"),
        ("rate", "1e999", "--set rate must be a finite number; got inf"),
        ("rate", "-1", "--set rate must be at least 0; got -1.0"),
        ("classes", "(1, 'a')", "--set classes must be a tuple of whole numbers; got (1, 'a')"),
        ("pairs", "((1, 2, 3),)", "--set pairs must be a tuple of tuples of 2 (a whole number, a whole number)"),
        ("count", "0", "--set count must be at least 1; got 0"),
        ("count", "2.5", "--set count must be a whole number or None; got 2.5"),
        ("flag", "1", "--set flag must be True or False; got 1"),
        ("dataset", "cifar10", "--set dataset must be one of 'mnist', 'fashion_mnist'; got 'cifar10'"),
        ("epochs", "True", "--set epochs must be a whole number; got True"),
        ("nope", "1", "nope: no such setting; the settings: dataset, epochs"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_setting(key, text, words):
    with pytest.raises(ConfigError) as info:
        parse_text(_Kinds, key, text, f"--set {key}")
    assert str(info.value).startswith(words)


def test_a_config_checks_its_own_defaults():
    with pytest.raises(ConfigError, match="rate must be a finite number; got 'x'"):
        _Kinds(rate="x")
    assert coerce(_Kinds, "rate", 2, "r") == 2.0


@pytest.mark.parametrize("name", experiments.EXPERIMENTS)
def test_every_study_config_is_typed_documented_and_listed(name, capsys):
    study = experiments.get(name)
    hints = typing.get_type_hints(study.config)
    for f in dataclasses.fields(study.config):
        assert f.name in hints and f.metadata.get("doc"), f"{name}.{f.name} lacks a type or a doc line"
    assert study.config(**study.quick)  # the quick values are of their types
    assert cli.main(["config", name]) == 0
    out = capsys.readouterr().out
    for f in dataclasses.fields(study.config):
        row = next(ln for ln in out.splitlines() if ln.split()[:1] == [f.name])
        assert f.metadata["doc"] in row
    assert cli.main(["config", name, "--quick", "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert values == json.loads(json.dumps(dataclasses.asdict(study.config(**study.quick))))


def test_cnnlab_config_of_an_unknown_study_is_one_line(capsys):
    assert cli.main(["config", "nope"]) == 2
    assert capsys.readouterr().err.startswith("cnnlab config: error: unknown experiment 'nope'")


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setattr(experiments, "get", lambda name: TINY)
    monkeypatch.chdir(tmp_path)


def _record(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_config_file_json_and_toml_then_set_then_options(tiny, tmp_path):
    (tmp_path / "c.json").write_text('{"learning_rate": 0.2, "epochs": 2}')
    (tmp_path / "c.toml").write_text("learning_rate = 0.3\nepochs = 3\n")
    assert cli.main(["run", "tiny", "--quiet", "--out", "a", "--config", "c.json"]) == 0
    assert _record(tmp_path / "a")["config"] == {
        "dataset": "mnist", "epochs": 2, "batch_size": 16, "seed": 0, "learning_rate": 0.2,
    }  # fmt: skip
    argv = ["run", "tiny", "--quiet", "--out", "b", "--config", "c.toml", "--set", "epochs=1", "--seed", "4"]
    assert cli.main(argv) == 0
    cfg = _record(tmp_path / "b")["config"]
    assert (cfg["learning_rate"], cfg["epochs"], cfg["seed"]) == (0.3, 1, 4)
    assert len(_record(tmp_path / "b")["history"]["model"]) == 1


def test_cnnlab_config_json_is_a_file_run_reads(tiny, tmp_path, capsys):
    assert cli.main(["config", "tiny", "--json"]) == 0
    (tmp_path / "same.json").write_text(capsys.readouterr().out)
    assert cli.main(["run", "tiny", "--quiet", "--out", "o", "--config", "same.json"]) == 0
    assert _record(tmp_path / "o")["config"] == dataclasses.asdict(TINY.config())


@pytest.mark.parametrize(
    "name,text,words",
    [
        ("c.json", '{"momentum": 0.9}', "--config c.json: momentum: tiny has no such setting"),
        ("c.json", '{"epochs": "two"}', "--config c.json: epochs must be a whole number; got 'two'"),
        ("c.json", "[1]", "--config c.json: must hold a table of settings"),
        ("c.json", "{oops", "--config c.json: not valid JSON"),
        ("c.toml", "epochs = ", "--config c.toml: not valid TOML"),
        ("absent.toml", None, "--config absent.toml: cannot be read"),
    ],
)
def test_a_bad_config_file_is_one_line(tiny, tmp_path, capsys, name, text, words):
    if text is not None:
        (tmp_path / name).write_text(text)
    assert cli.main(["run", "tiny", "--quiet", "--out", "o", "--config", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"cnnlab run tiny: error: {words}"), err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_metrics_json_records_run_id_commit_and_environment(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_EXAMPLE_FLAG", "on")
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")
    assert cli.main(["run", "tiny", "--quiet", "--out", "o"]) == 0
    record = _record(tmp_path / "o")
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", record["run_id"])
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and (ROOT / "cnnlab").resolve() == Path(cnnlab_file()).parent:
        assert record["git_commit"].removesuffix("+dirty") == head.stdout.strip()
    assert record["environment"]["CNNLAB_EXAMPLE_FLAG"] == "on"
    assert "UNRELATED_VARIABLE" not in record["environment"]
    report = (tmp_path / "o" / "report.md").read_text()
    assert f"Run {record['run_id']}" in report


def cnnlab_file() -> str:
    import cnnlab

    return str(Path(cnnlab.__file__).resolve())


def test_a_full_run_resumes_from_its_own_checkpoints(tiny, tmp_path):
    assert cli.main(["run", "tiny", "--quiet", "--out", "o", "--epochs", "1"]) == 0
    first = _record(tmp_path / "o")["history"]["model"]
    assert (tmp_path / "o" / "checkpoints" / "model").is_dir()  # full runs checkpoint by default
    (tmp_path / "o" / "metrics.json").unlink()  # as if it had stopped before writing its results
    assert cli.main(["run", "tiny", "--quiet", "--out", "o", "--epochs", "2", "--resume"]) == 0
    history = _record(tmp_path / "o")["history"]["model"]
    assert len(history) == 2 and history[0] == first[0]


def test_force_replaces_a_full_runs_checkpoints_too(tiny, tmp_path):
    assert cli.main(["run", "tiny", "--quiet", "--out", "o"]) == 0
    assert cli.main(["run", "tiny", "--quiet", "--out", "o", "--force", "--set", "learning_rate=0.1"]) == 0
    assert _record(tmp_path / "o")["config"]["learning_rate"] == 0.1


def test_quick_runs_write_no_checkpoints(tiny, tmp_path):
    assert cli.main(["run", "tiny", "--quiet", "--quick", "--out", "o"]) == 0
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_tensorboard_gets_each_models_scalars(tiny, tmp_path):
    assert cli.main(["run", "tiny", "--quiet", "--out", "o", "--tensorboard", "tb", "--epochs", "2"]) == 0
    assert list((tmp_path / "tb" / "model").glob("events.out.tfevents.*"))
