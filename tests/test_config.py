"""A run's settings (training/config.py): one frozen dataclass per kind of run, checked field by
field, saved in every checkpoint as plain JSON and read back, older checkpoints included; and
the command line built from them, which starts without loading what it does not run."""

import dataclasses
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tinytransformer.commands.args import in_flags
from tinytransformer.training.checkpoint import load_checkpoint
from tinytransformer.training.config import ConfigError, FinetuneConfig, PretrainConfig
from tinytransformer.training.pretrain import pretrain, resume, saved_config

TINY = dict(preset="tiny", max_iters=12, eval_interval=4, eval_iters=2, dropout=0.1)


# --- checked field by field ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field", "problem"),
    [
        ({"batch_size": 0}, "batch_size", "expected a whole number >= 1, got 0"),
        ({"batch_size": True}, "batch_size", "expected a whole number >= 1, got True"),
        ({"max_iters": 2.0}, "max_iters", "expected a whole number >= 0, got 2.0"),
        ({"learning_rate": 0.0}, "learning_rate", "expected a finite number > 0.0, got 0.0"),
        ({"beta2": 1.0}, "beta2", "expected a finite number >= 0.0 and < 1.0, got 1.0"),
        ({"grad_clip": float("nan")}, "grad_clip", "expected a finite number >= 0.0, got nan"),
        ({"dropout": "0.1"}, "dropout", "expected a finite number >= 0.0 and < 1.0, got '0.1'"),
        ({"model": "bert"}, "model", "expected one of gpt, mlm, got 'bert'"),
        ({"tokenizer": "word"}, "tokenizer", "expected one of char, bpe, got 'word'"),
        ({"data": ""}, "data", "expected a non-empty string, got ''"),
        ({"bias": 1}, "bias", "expected True or False, got 1"),
        ({"seed": -1}, "seed", "expected a whole number >= 0, got -1"),
        ({"min_lr": 0.1, "learning_rate": 0.01}, "min_lr", "expected at most learning_rate"),
        ({"vocab_size": 300}, "vocab_size", "the char tokenizer's vocabulary is the text's"),
    ],
)
def test_every_setting_is_checked_and_its_error_names_it(settings, field, problem):
    with pytest.raises(ConfigError) as info:
        PretrainConfig(**settings)
    assert info.value.field == field and info.value.problem.startswith(problem), info.value
    assert str(info.value) == f"{field}: {info.value.problem}"


def test_numpy_scalars_are_numbers_and_are_stored_as_python_values():
    config = PretrainConfig(batch_size=np.int64(8), learning_rate=np.float32(0.5), weight_decay=1)
    assert (config.batch_size, config.learning_rate, config.weight_decay) == (8, 0.5, 1.0)
    assert type(config.batch_size) is int and type(config.learning_rate) is float
    assert type(config.weight_decay) is float  # a number given as 1 is the number 1.0
    json.dumps(config.to_dict())  # plain JSON, no NumPy scalar left in it


def test_a_config_is_frozen_and_replace_checks_again():
    config = PretrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_iters = 5
    longer = config.replace(max_iters=5000)
    assert (config.max_iters, longer.max_iters) == (2000, 5000)
    with pytest.raises(ConfigError, match="^max_iters: expected a whole number >= 0, got -1$"):
        config.replace(max_iters=-1)
    with pytest.raises(ConfigError, match="^max_itres: not a setting of PretrainConfig$"):
        config.replace(max_itres=5)


def test_fine_tuning_has_its_own_defaults_and_the_same_checks():
    ft = FinetuneConfig()
    assert (ft.learning_rate, ft.min_lr, ft.warmup_iters, ft.patience) == (3e-4, None, 0, 8)
    assert PretrainConfig().learning_rate == 1e-3
    with pytest.raises(ConfigError, match="^learning_rate: expected a finite number > 0.0"):
        FinetuneConfig(learning_rate=-1)
    with pytest.raises(ConfigError, match="^pooling: expected one of cls, mean, last"):
        FinetuneConfig(pooling="max")


def test_the_command_line_says_a_settings_error_with_the_flags_names():
    error = ConfigError("min_lr", "expected at most learning_rate (0.01), got 0.1")
    assert in_flags(str(error), PretrainConfig) == (
        "--min-lr: expected at most --learning-rate (0.01), got 0.1"
    )
    # words that are settings too (data, model) stay words inside the sentence
    error = ConfigError("data", "the val split of data.txt has 3 tokens, fewer than block_size")
    assert in_flags(str(error), PretrainConfig) == (
        "--data: the val split of data.txt has 3 tokens, fewer than --block-size"
    )


# --- saved in every checkpoint, read back ------------------------------------------------------


def test_the_config_round_trips_through_a_checkpoint(tmp_path):
    config = PretrainConfig(**TINY, learning_rate=3e-3, patience=5)
    run, _ = pretrain(config, tmp_path)
    ckpt = load_checkpoint(tmp_path / "ckpt.npz")
    assert ckpt.meta["extra"]["config"] == json.loads(
        json.dumps(config.to_dict() | {"tokenizer": "char"})
    )
    # the tokenizer is saved as the run resolved it (none -> char), so a resume compares values
    assert saved_config(ckpt) == config.replace(tokenizer="char") == run.config


def _as_an_older_checkpoint(path):
    """Rewrite a checkpoint as the code before training/config.py wrote it: the model's class
    name, the command line's flags (named as flags, --objective clm for a GPT, the command's
    own --out and --quiet among them, --patience not yet there) and the optimizer's
    hyperparameters beside its moments."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    meta["model_class"] = {"gpt": "GPT", "mlm": "MaskedLM"}[meta.pop("model")]
    flags = dict(meta["extra"].pop("config"))
    flags["objective"] = {"gpt": "clm", "mlm": "mlm"}[flags.pop("model")]
    flags.pop("patience")
    flags.update(out=str(path.parent), resume=False, overwrite=False, quiet=True, sample_tokens=0)
    meta["extra"]["args"] = flags
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    for key, value in [("lr", 1e-3), ("beta1", 0.9), ("beta2", 0.99), ("eps", 1e-8)]:
        arrays[f"optim/hp.{key}"] = np.array(value)
    arrays["optim/hp.weight_decay"] = np.array(0.1)
    np.savez(path, **arrays)
    assert zipfile.is_zipfile(path)


@pytest.mark.parametrize(("model", "objective"), [("gpt", "clm"), ("mlm", "mlm")])
def test_an_older_checkpoint_without_the_new_fields_resumes_exactly(tmp_path, model, objective):
    """The settings an older checkpoint lacks (patience) take their defaults; the old names
    (objective clm, model_class GPT) read as today's; and the run resumes bit for bit."""
    config = PretrainConfig(**TINY, model=model)
    _, full = pretrain(config, tmp_path / "full")
    _, first = pretrain(config, tmp_path / "part", stop_after=6)
    _as_an_older_checkpoint(tmp_path / "part" / "ckpt.npz")
    old = load_checkpoint(tmp_path / "part" / "ckpt.npz")
    assert "config" not in old.meta["extra"] and old.meta["extra"]["args"]["objective"] == objective
    assert saved_config(old) == config.replace(tokenizer="char")  # patience: the default
    _, rest = resume(tmp_path / "part")
    assert {**first, **rest} == full
    a, b = (load_checkpoint(tmp_path / d / "ckpt.npz").model.params for d in ("full", "part"))
    assert all(np.array_equal(a[n], b[n]) for n in a)


# --- the command line starts with what it runs ----------------------------------------------------


HEAVY = ("matplotlib", "tinytransformer.exercises", "nbformat", "IPython")


def loaded_by(argv):
    """The modules of HEAVY that `python -m tinytransformer argv` has loaded when it ends."""
    code = (
        "import sys\n"
        "from tinytransformer.commands.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted({{m.split('.')[0] if m.split('.')[0] != 'tinytransformer' else m\n"
        f"    for m in sys.modules if m.startswith({HEAVY!r})}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("command", ["train", "sample", "eval", "finetune", "export"])
def test_help_loads_neither_matplotlib_nor_the_exercises(command):
    assert loaded_by([command, "--help"]) == "[]"


def test_sample_loads_neither_matplotlib_nor_the_exercises(tmp_path):
    pretrain(PretrainConfig(**TINY), tmp_path)
    argv = ["sample", "--out", str(tmp_path), "--max-new-tokens", "5"]
    assert loaded_by(argv) == "[]"
