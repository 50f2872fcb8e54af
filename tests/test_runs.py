"""A run never loses work: what `train`, `finetune`, `sample` and `eval` do with a run directory
that already holds something, with bad flags, and with faults of the file system. Each test is
one point of the reliability issue, run through the command line as a user would (in process:
`main(argv)`, whose errors are SystemExit with the message).

Every run is the "tiny" preset for a few steps."""

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinytransformer.commands.evaluate import main as eval_main
from tinytransformer.commands.export import main as export_main
from tinytransformer.commands.finetune import main as finetune_main
from tinytransformer.commands.sample import main as sample_main
from tinytransformer.commands.train import main as train_main
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT, generate_text
from tinytransformer.models.memory import check_fits, count_parameters, training_step_bytes
from tinytransformer.models.sampling import GREEDY, Sampling, sample_next
from tinytransformer.text.batching import Batch
from tinytransformer.text.tokenizers import CharTokenizer
from tinytransformer.training.checkpoint import load_checkpoint, save_checkpoint
from tinytransformer.training.loop import fit
from tinytransformer.training.optimizer import AdamW
from tinytransformer.training.schedule import Schedule

TINY = ["--preset", "tiny", "--eval-interval", "5", "--eval-iters", "2", "--quiet",
        "--sample-tokens", "0"]  # fmt: skip


def train(out, *flags, steps=10):
    train_main([*TINY, "--max-iters", str(steps), "--out", str(out), *flags])


def fails(main, argv, *fragments):
    """main(argv) must exit with an error whose message holds every fragment; -> the message."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    message = str(info.value.code)
    assert message.startswith("error: "), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def snapshot(out):
    """name -> bytes of every file in a run directory."""
    return {p.name: p.read_bytes() for p in Path(out).iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(out)
    return out


# --- 1. a second run never destroys the first -----------------------------------------------------


def test_a_second_run_in_the_same_out_is_refused_and_nothing_is_touched(trained):
    before = snapshot(trained)
    fails(train_main, [*TINY, "--out", str(trained)],
          f"--out {trained} already holds a run", "--resume", "--overwrite")  # fmt: skip
    assert snapshot(trained) == before


def test_overwrite_replaces_the_old_run(tmp_path):
    train(tmp_path, steps=5)
    old = load_checkpoint(tmp_path / "ckpt.npz").step
    train(tmp_path, "--overwrite", steps=10)
    assert (old, load_checkpoint(tmp_path / "ckpt.npz").step) == (5, 10)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()]
    assert steps == [0, 5, 10]  # the old run's rows are gone, not mixed in
    fails(train_main, [*TINY, "--out", str(tmp_path), "--resume", "--overwrite"],
          "--resume, --overwrite: expected at most one")  # fmt: skip


def test_finetune_refuses_to_replace_results_and_checks_out_before_training(tmp_path, trained):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("mine")
    fails(finetune_main, ["--model", "gpt", "--preset", "tiny", "--out", str(a_file)],
          f"--out {a_file}: expected a directory, got a file")  # fmt: skip
    assert a_file.read_text() == "mine"
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "results.json").write_text("{}")
    fails(finetune_main, ["--model", "gpt", "--preset", "tiny", "--out", str(tmp_path / "res")],
          "already holds a run (results.json)", "use another --out", "--overwrite")  # fmt: skip


# --- 2. a bad flag on --resume or --init-from never reaches a checkpoint --------------------------


@pytest.mark.parametrize("how", ["--resume", "--init-from"])
def test_a_bad_dropout_with_resume_or_init_from_is_refused_before_any_write(tmp_path, how):
    src = tmp_path / "src"
    train(src, steps=5)
    before = snapshot(src)
    if how == "--resume":
        argv = ["--out", str(src), "--resume", "--dropout", "1.5", "--quiet"]
    else:
        argv = [*TINY, "--init-from", str(src / "ckpt.npz"), "--dropout", "1.5",
                "--out", str(tmp_path / "dst")]  # fmt: skip
    fails(train_main, argv, "--dropout: expected a finite number >= 0.0 and < 1.0, got 1.5")
    assert snapshot(src) == before and not (tmp_path / "dst").exists()
    train_main(["--out", str(src), "--resume", "--max-iters", "10", "--quiet"])  # still resumes


# --- 4. a resumed run honours changed optimizer flags --------------------------------------------


def test_resume_honours_weight_decay_and_betas(tmp_path):
    train(tmp_path / "a", steps=5)
    train(tmp_path / "b", steps=5)
    train_main(["--out", str(tmp_path / "a"), "--resume", "--max-iters", "10", "--quiet"])
    train_main(["--out", str(tmp_path / "b"), "--resume", "--max-iters", "10", "--quiet",
                "--weight-decay", "0.5", "--beta1", "0.8", "--beta2", "0.9"])  # fmt: skip
    a, b = (load_checkpoint(tmp_path / d / "ckpt.npz") for d in "ab")
    saved = b.meta["extra"]["config"]  # the one source of the hyperparameters
    assert (saved["weight_decay"], saved["beta1"], saved["beta2"]) == (0.5, 0.8, 0.9)
    assert a.meta["extra"]["config"]["weight_decay"] == 0.1  # unchanged flags: the saved values
    assert not any(key.startswith("hp.") for key in b.optim_state)  # moments and t only
    name = "transformer.h.0.mlp.c_fc.weight"
    assert not np.array_equal(a.model.params[name], b.model.params[name])  # and they acted


def test_a_run_started_from_init_from_can_be_resumed(tmp_path, trained):
    """The saved flags of such a run hold --init-from; resuming it is not both at once."""
    train(tmp_path / "b", "--init-from", str(trained / "ckpt.npz"), steps=5)
    train_main(["--out", str(tmp_path / "b"), "--resume", "--max-iters", "8", "--quiet"])
    assert load_checkpoint(tmp_path / "b" / "ckpt.npz").step == 8


def test_a_resume_is_checked_against_its_saved_settings_not_the_defaults(tmp_path):
    """Saved --learning-rate 1e-2: a new --min-lr 5e-3 is below it (the default, 1e-3, is not),
    and --tokenizer char repeats what the run has (refused only if it differed)."""
    train(tmp_path / "a", "--learning-rate", "1e-2", "--min-lr", "1e-3", steps=5)
    train_main(["--out", str(tmp_path / "a"), "--resume", "--max-iters", "8", "--quiet",
                "--min-lr", "5e-3", "--tokenizer", "char"])  # fmt: skip
    ckpt = load_checkpoint(tmp_path / "a" / "ckpt.npz")
    assert ckpt.step == 8 and ckpt.meta["extra"]["config"]["min_lr"] == 5e-3
    fails(train_main, ["--out", str(tmp_path / "a"), "--resume", "--max-iters", "9",
                       "--min-lr", "2e-2"], "--min-lr", "at most")  # fmt: skip


def test_a_moved_run_is_resumed_where_it_now_is(tmp_path, monkeypatch):
    """Started with --out first, moved to ./out (the default): `train --resume` with no --out
    resumes ./out and writes there, not into the saved --out it was started with."""
    monkeypatch.chdir(tmp_path)
    train("first", steps=5)
    Path("first").rename("out")
    train_main(["--resume", "--max-iters", "8", "--quiet"])
    assert load_checkpoint(Path("out") / "ckpt.npz").step == 8
    assert not Path("first").exists()


# --- 5. one writer per run directory -------------------------------------------------------------


def test_a_second_writer_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "locked"
    out.mkdir()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".lock").write_text(f"{alive.pid}\n")
        fails(train_main, [*TINY, "--out", str(out)], f"another run (pid {alive.pid})")
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written
    finally:
        alive.kill()
        alive.wait()
    (out / ".lock").write_text(f"{alive.pid}\n")  # its holder is gone now
    train(out, steps=5)
    assert f"taking over the lock {out / '.lock'} of a run that is gone" in capsys.readouterr().out
    assert not (out / ".lock").exists()  # released at the end


def test_the_lock_names_its_writer_by_pid_and_start_time(tmp_path, capsys):
    """A lock that no live writer of ours holds is taken over: empty, a pid out of range, -1,
    or the pid of a live program that started after the lock was written (the system gave the
    dead writer's pid away). A lock that is a directory is one line naming it."""
    out = tmp_path / "run"
    out.mkdir()
    me = os.getpid()
    for content in ["", "99999999999999\n", "-1\n", f"{me} 1\n"]:  # my pid, another start
        (out / ".lock").write_text(content)
        train(out, "--overwrite", steps=1)
        assert "taking over the lock" in capsys.readouterr().out, repr(content)
        assert not (out / ".lock").exists()
    start = Path(f"/proc/{me}/stat").read_text().rsplit(")", 1)[1].split()[19]
    (out / ".lock").write_text(f"{me} {start}\n")  # this very process, alive: refused
    fails(train_main, [*TINY, "--overwrite", "--out", str(out)],
          f"another run (pid {me}) is writing there (its lock is {out / '.lock'})")  # fmt: skip
    (out / ".lock").unlink()
    (out / ".lock").mkdir()
    fails(train_main, [*TINY, "--overwrite", "--out", str(out)],
          f"its lock file {out / '.lock'} is a directory; remove it")  # fmt: skip


# --- 6. metrics.jsonl: a broken line is named ----------------------------------------------------


def test_a_broken_metrics_line_is_an_error_naming_the_file_and_line(tmp_path):
    train(tmp_path, steps=10)
    path = tmp_path / "metrics.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], '{"step": 5, "train_lo', *lines[2:]]) + "\n")
    fails(train_main, ["--out", str(tmp_path), "--resume", "--max-iters", "15", "--quiet"],
          f"{path}, line 2: not a JSON row")  # fmt: skip


def test_partial_files_of_an_interrupted_write_are_removed_on_the_next_start(tmp_path, capsys):
    train(tmp_path, steps=5)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    partial = tmp_path / f".ckpt.npz.{dead}.0123abcd.tmp"
    partial.write_bytes(b"PK\x03\x04half a checkpoint")
    train_main(["--out", str(tmp_path), "--resume", "--max-iters", "10", "--quiet"])
    assert not partial.exists()
    assert f"removed {partial}" in capsys.readouterr().out


# --- 7. OS and resource faults are one clear line ------------------------------------------------


def test_out_that_is_a_file_or_holds_a_directory_for_a_file(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    fails(train_main, [*TINY, "--out", str(a_file)], f"--out {a_file}: expected a directory")
    fails(train_main, [*TINY, "--out", str(a_file / "sub")], f"{a_file} is a file")
    (tmp_path / "run" / "ckpt.npz").mkdir(parents=True)
    fails(train_main, [*TINY, "--out", str(tmp_path / "run"), "--overwrite"],
          "ckpt.npz is a directory, expected a file")  # fmt: skip
    assert a_file.read_text() == "mine"


def test_a_read_only_out_is_one_line(tmp_path, monkeypatch):
    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "write_bytes", read_only)
    fails(train_main, [*TINY, "--out", str(tmp_path / "ro")],
          f"--out {tmp_path / 'ro'}: the file system is read-only")  # fmt: skip


def test_a_configuration_that_cannot_fit_in_memory_is_refused_with_its_estimate(tmp_path):
    message = fails(train_main, [*TINY, "--block-size", "40000", "--out", str(tmp_path / "big")],
                    "--block-size 40000", "GiB", "available")  # fmt: skip
    assert "needs about" in message and not (tmp_path / "big").exists()
    gpt2 = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    assert count_parameters(gpt2) == 124_439_808  # GPT-2 small, as published
    with pytest.raises(MemoryError, match="needs about 46.5 GiB"):
        check_fits(gpt2, 12, available=16 * 2**30)  # a 16 GiB machine cannot train it at batch 12


def test_the_memory_estimate_counts_parameters_exactly_and_activations_roughly():
    for bias in (True, False):
        config = GPTConfig(vocab_size=70, block_size=16, n_layer=2, n_head=2, n_embd=16, bias=bias)
        assert count_parameters(config) == GPT(config).num_parameters()
    small = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
    # 810k parameters x 4 copies x 4 bytes = 13 MB, plus activations measured at 45 MB
    assert 50e6 < training_step_bytes(small, 12) < 70e6


# --- 8. a checkpoint without training metadata ---------------------------------------------------


def test_resuming_a_checkpoint_saved_without_training_arguments_is_a_clear_error(tmp_path):
    tok = CharTokenizer.train("hello world, hello tiny model")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1, n_embd=8))
    save_checkpoint(tmp_path / "ckpt.npz", model, tok)  # the public API, no extra=
    fails(train_main, ["--out", str(tmp_path), "--resume"],
          "holds no training settings", "--init-from")  # fmt: skip


# --- bad flags and meaningless combinations ------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--grad-clip", "nan"], "--grad-clip: expected a finite number >= 0.0, got nan"),
        (["--grad-clip", "-1"], "--grad-clip: expected a finite number >= 0.0, got -1.0"),
        (["--learning-rate", "0"], "--learning-rate: expected a finite number > 0.0, got 0.0"),
        (["--min-lr", "0.1", "--learning-rate", "0.01"], "--min-lr: expected at most"),
        (["--beta2", "1"], "--beta2: expected a finite number >= 0.0 and < 1.0, got 1.0"),
        (["--weight-decay", "inf"], "--weight-decay: expected a finite number >= 0.0"),
        (["--resume", "--init-from", "x.npz"], "--resume, --init-from: expected one of them"),
        (["--init-from", "x.npz"], "x.npz: no such checkpoint file"),
    ],
)
def test_meaningless_or_ignored_flags_are_errors_and_nothing_is_written(tmp_path, flags, message):
    fails(train_main, [*TINY, "--out", str(tmp_path / "o"), *flags], message)
    assert not (tmp_path / "o").exists()


def test_init_from_keeps_its_checkpoints_tokenizer(tmp_path, trained):
    """A char-tokenized checkpoint: --tokenizer bpe or a --vocab-size would be ignored, so they
    are refused; --tokenizer char says what the run does anyway."""
    ckpt = str(trained / "ckpt.npz")
    for flags, message in [
        (["--tokenizer", "bpe"], "--tokenizer: a run started with --init-from keeps its"),
        (["--vocab-size", "300"], "--vocab-size: a run started with --init-from keeps its"),
    ]:
        fails(train_main, [*TINY, "--init-from", ckpt, *flags, "--out", str(tmp_path / "o")],
              message)  # fmt: skip
        assert not (tmp_path / "o").exists()
    train(tmp_path / "o", "--init-from", ckpt, "--tokenizer", "char", steps=1)


def test_finetune_flags_that_make_no_sense_are_errors(tmp_path, trained):
    ckpt = str(trained / "ckpt.npz")  # a GPT
    fails(finetune_main, ["--init-from", ckpt, "--pooling", "cls", "--out", str(tmp_path / "a")],
          "--pooling: expected last or mean for a GPT, got cls")  # fmt: skip
    argv = ["--init-from", ckpt, "--trainable-blocks", "5", "--out", str(tmp_path / "b")]
    fails(finetune_main, argv, "--trainable-blocks: expected 0..2")
    fails(finetune_main, ["--scratch", "--out", str(tmp_path / "c")], "--scratch: takes the shape")
    fails(finetune_main, ["--init-from", ckpt, "--min-lr", "1", "--out", str(tmp_path / "d")],
          "--min-lr: expected at most --learning-rate")  # fmt: skip
    assert not any((tmp_path / d).exists() for d in "abcd")


def test_sample_and_eval_name_their_flags(tmp_path, trained):
    fails(sample_main, ["--out", str(trained), "--temperature", "nan"], "--temperature: expected")
    fails(sample_main, ["--out", str(trained), "--top-p", "0"],
          "--top-p: expected a finite number > 0.0 and <= 1.0, got 0.0")  # fmt: skip
    fails(sample_main, ["--out", str(trained), "--prompt", "日本"], "--prompt '日本': character")
    before = snapshot(trained)
    eval_main(["--out", str(trained), "--quiet", "--prompts", "1", "--max-new-tokens", "2"])
    fails(eval_main, ["--out", str(trained), "--quiet"], "eval.json already exists", "--overwrite")
    assert {n: b for n, b in snapshot(trained).items() if n != "eval.json"} == before


def test_eval_says_where_it_looked_for_a_moved_corpus(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("a small corpus, long enough for a tiny model. " * 80)
    train(tmp_path / "run", "--data", str(text), steps=5)
    moved = tmp_path / "moved.txt"
    os.replace(text, moved)
    fails(eval_main, ["--out", str(tmp_path / "run"), "--quiet"],
          f"was trained on --data {text}, which is not there any more", "--data PATH")  # fmt: skip
    eval_main(["--out", str(tmp_path / "run"), "--quiet", "--data", str(moved), "--prompts", "1",
               "--max-new-tokens", "2"])  # fmt: skip
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["n_tokens"] > 0


# --- loading refuses what cannot be used ---------------------------------------------------------


def test_loading_refuses_non_finite_or_non_float_weights(tmp_path, trained):
    ckpt = load_checkpoint(trained / "ckpt.npz")
    ckpt.model.params["transformer.wte.weight"][0, 0] = np.nan
    with pytest.raises(ValueError, match="refusing to save weights that are not finite"):
        save_checkpoint(tmp_path / "nan.npz", ckpt.model, ckpt.tokenizer)
    assert not (tmp_path / "nan.npz").exists()
    # written by hand, around save_checkpoint's check: loading refuses it, sample exits non-zero
    with np.load(trained / "ckpt.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["param/transformer.wte.weight"] = arrays["param/transformer.wte.weight"] * np.inf
    np.savez(tmp_path / "inf.npz", **arrays)
    fails(sample_main, ["--checkpoint", str(tmp_path / "inf.npz")],
          "parameter transformer.wte.weight holds nan or inf")  # fmt: skip
    arrays["param/transformer.wte.weight"] = np.zeros((2, 2), dtype=np.int64)
    np.savez(tmp_path / "int.npz", **arrays)
    fails(sample_main, ["--checkpoint", str(tmp_path / "int.npz")], "has dtype int64")


def test_a_npy_or_random_bytes_given_as_a_checkpoint(tmp_path):
    np.save(tmp_path / "array.npy", np.arange(3))
    fails(sample_main, ["--checkpoint", str(tmp_path / "array.npy")], "is a single .npy array")
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(512))
    message = fails(sample_main, ["--checkpoint", str(tmp_path / "noise.npz")], "not a checkpoint")
    assert "pickle" not in message


# --- 3. on divergence, "the last good checkpoint" is good ----------------------------------------


def test_a_blow_up_just_before_an_evaluation_never_reaches_a_checkpoint(tmp_path):
    """lr 1e38: the first update makes the weights inf while that step's loss was finite, so the
    very next evaluation sees it; it must stop there, before saving."""
    out = tmp_path / "diverged"
    argv = [*TINY, "--learning-rate", "1e38", "--warmup-iters", "0", "--eval-interval", "1",
            "--max-iters", "20", "--out", str(out)]  # fmt: skip
    message = fails(train_main, argv, "step 1: validation loss nan is not", "last good checkpoint")
    assert str(out / "ckpt.npz") in message
    ckpt = load_checkpoint(out / "ckpt.npz")  # it loads: so its weights are finite
    assert ckpt.step == 0 and all(np.isfinite(p).all() for p in ckpt.model.params.values())


def test_the_loop_and_adamw_detect_non_finite_values_through_the_python_api():
    from tinytransformer.training.loop import TrainingError, fit
    from tinytransformer.training.optimizer import AdamW
    from tinytransformer.training.schedule import Schedule

    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=4))
    opt = AdamW(model, 1e-3)
    idx = np.zeros((2, 4), dtype=np.int64)
    model(idx, idx)
    model.backward()
    model.grads["transformer.wte.weight"][0, 0] = np.nan
    before = model.params["transformer.wte.weight"].copy()
    with pytest.raises(FloatingPointError, match=r"AdamW step 1: model.grads\['transformer.wte"):
        opt.step()
    assert np.array_equal(model.params["transformer.wte.weight"], before) and opt.t == 0

    def evaluate(step):
        return {"val_loss": float("nan") if step == 2 else 1.0}

    with pytest.raises(TrainingError, match="step 2: validation loss nan is not finite"):
        fit(model, opt, lambda: Batch(idx, idx), evaluate, Schedule(1e-3, 1e-4, 0, 5),
            max_iters=5, eval_interval=1, grad_clip=1.0)  # fmt: skip


# --- where a user would expect it ----------------------------------------------------------------


def test_api_arguments_are_checked_too():
    with pytest.raises(TypeError, match="bias: expected True or False, got 'no'"):
        GPTConfig(bias="no")
    with pytest.raises(TypeError, match="n_layer: expected a whole number >= 1, got True"):
        GPTConfig(n_layer=True)
    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=4))
    with pytest.raises(ValueError, match="max_new_tokens: expected a whole number >= 0, got -1"):
        model.generate(np.zeros((1, 1), dtype=np.int64), -1)


def test_special_tokens_are_never_sampled_unless_asked():
    tok = CharTokenizer.train("ab")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1, n_embd=4))
    model.params["transformer.wte.weight"][tok.pad_id] = 5.0  # the model loves [PAD]
    from tinytransformer.models.gpt import generate_text

    text = generate_text(model, tok, "ab", 30, temperature=1.0, seed=0)
    assert set(text) <= set("ab")
    with_special = generate_text(model, tok, "ab", 30, temperature=1.0, seed=0, allow_special=True)
    assert "[PAD]" in with_special


def test_a_log_that_is_not_a_terminal_gets_a_line_per_evaluation_not_a_bar(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tinytransformer", "train", "--preset", "tiny", "--max-iters", "20",
         "--eval-interval", "10", "--eval-iters", "1", "--sample-tokens", "0",
         "--out", str(tmp_path / "log")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr + result.stdout  # no progress-bar redraws
    steps = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert [s.split(":")[0] for s in steps] == ["step 0", "step 10", "step 20"]


# --- the second round of hostile input, through the Python API (issue 21) ---------------------


def test_load_state_dict_refuses_non_float_and_non_finite_arrays_by_name():
    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=4))
    good = model.state_dict()
    name = "transformer.h.0.attn.c_attn.weight"
    for bad, fragment in [
        (np.full(good[name].shape, None, dtype=object), f"{name}: object"),
        (np.full(good[name].shape, "1.5"), f"{name}: <U3"),
        (np.ones(good[name].shape, dtype=np.int64), f"{name}: int64"),
        (np.ones(good[name].shape, dtype=bool), f"{name}: bool"),
        (np.full(good[name].shape, np.nan, dtype=np.float32), f"nan or inf in ['{name}']"),
    ]:
        with pytest.raises(ValueError, match=re.escape(fragment)):
            model.load_state_dict({**good, name: bad})
        assert np.array_equal(model.params[name], good[name])  # nothing was loaded


def test_an_adamw_step_that_would_break_a_weight_changes_nothing():
    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=4))
    idx = np.zeros((2, 4), dtype=np.int64)
    model(idx, idx)
    model.backward()
    opt = AdamW(model, lr=1e300)
    before = model.state_dict()
    with pytest.raises(FloatingPointError, match=r"AdamW step 1: the update would make .* nan"):
        opt.step()
    assert opt.t == 0 and all(np.array_equal(model.params[n], before[n]) for n in before)
    assert not any(m.any() for m in opt.m.values())  # the moments are untouched too


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        (dict(max_iters=-5), ValueError, "max_iters: expected a whole number >= 0, got -5"),
        (dict(eval_interval=0), ValueError, "eval_interval: expected a whole number >= 1, got 0"),
        (dict(patience=0), ValueError, "patience: expected a whole number >= 1, got 0"),
        (dict(grad_clip=-1.0), ValueError, "grad_clip: expected a finite number >= 0.0"),
    ],
)
def test_fit_refuses_settings_that_would_do_nothing_or_crash(settings, error, message):
    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=4))
    idx = np.zeros((2, 4), dtype=np.int64)
    kwargs = {"max_iters": 3, "eval_interval": 1, "grad_clip": 1.0, **settings}
    with pytest.raises(error, match=re.escape(message)):
        fit(model, AdamW(model, 1e-3), lambda: Batch(idx, idx), lambda s: {"val_loss": 1.0},
            Schedule(1e-3, 1e-4, 0, 3), **kwargs)  # fmt: skip


def test_fit_refuses_an_empty_batch_instead_of_reporting_a_loss_of_zero():
    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=4))
    empty = np.zeros((0, 4), dtype=np.int64)
    with pytest.raises(ValueError, match=r"batch: expected at least one token, got idx of shape"):
        fit(model, AdamW(model, 1e-3), lambda: Batch(empty, empty), lambda s: {"val_loss": 1.0},
            Schedule(1e-3, 1e-4, 0, 3), max_iters=3, eval_interval=1, grad_clip=1.0)  # fmt: skip


def test_a_schedule_whose_floor_is_above_its_rate_is_refused():
    with pytest.raises(ValueError, match=r"min_lr: expected at most learning_rate \(0.001\)"):
        Schedule(1e-3, 1e-2, 0, 10)


def test_sampling_is_defined_for_every_temperature_and_every_finite_logit():
    """The most likely token is always kept (top_p 1e-9 too), a tiny temperature is greedy,
    logits huge or far apart never overflow, nan is refused, a suppressed id is never drawn."""
    rng = np.random.default_rng(0)
    logits = np.array([[1.0, 3.0, 2.0, -1.0]] * 200, dtype=np.float32)  # as a model gives them
    assert set(sample_next(logits, Sampling(top_p=1e-9), rng).tolist()) == {1}
    assert set(sample_next(logits, Sampling(temperature=1e-40), rng).tolist()) == {1}
    huge = np.array([[1e18, 3e18, 2e18, -1e18]], dtype=np.float32)
    assert sample_next(huge, Sampling(temperature=1e-30), rng).tolist() == [1]
    with pytest.raises(ValueError, match="logits: expected finite numbers .* got nan at row 0"):
        sample_next(np.array([[0.0, np.nan]]), Sampling(), rng)
    with pytest.raises(ValueError, match="temperature: expected a finite number >= 0.0, got inf"):
        Sampling(temperature=float("inf"))
    blocked = np.array([[5.0, -np.inf, 0.0]] * 500)  # id 1 suppressed
    for sampling in (Sampling(), Sampling(temperature=50.0), Sampling(top_k=3), GREEDY):
        assert 1 not in sample_next(blocked, sampling, rng).tolist()
    # logits of 1e18 (the final layer norm's gain scaled up) and a temperature of 1e-30: the
    # argmax, as greedy decoding gives it, not token 0
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=4), seed=3)
    model.params["transformer.ln_f.weight"] *= 1e18
    greedy = model.generate(np.array([[1, 2]]), 5, temperature=0)
    cold = model.generate(np.array([[1, 2]]), 5, temperature=1e-30, rng=rng)
    assert np.array_equal(cold, greedy) and set(greedy[0, 2:].tolist()) != {0}


def test_sample_with_a_tiny_top_p_keeps_the_most_likely_token(tmp_path, trained, capsys):
    sample_main(["--out", str(trained), "--top-p", "1e-9", "--max-new-tokens", "20",
                 "--prompt", "def "])  # fmt: skip
    greedy = capsys.readouterr().out
    sample_main(["--out", str(trained), "--temperature", "0", "--max-new-tokens", "20",
                 "--prompt", "def "])  # fmt: skip
    assert capsys.readouterr().out == greedy  # the nucleus of p -> 0 is the top token alone


@pytest.mark.parametrize("how", ["empty", "dangling link", "looping link"])
def test_an_out_that_names_no_folder_is_one_line_naming_the_flag(tmp_path, how, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if how == "empty":
        out, message = "", "--out '': expected a folder, got an empty path"
    elif how == "dangling link":
        out = "link"
        os.symlink(tmp_path / "nowhere", out)
        message = f"--out link: a symbolic link to {tmp_path / 'nowhere'}, which does not exist"
    else:
        out = "loop"
        os.symlink("loop", out)
        message = "--out loop: a symbolic link that loops back on itself"
    fails(train_main, [*TINY, "--out", out], message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if how == "empty" else [out])


# --- export writes its folder as a whole ------------------------------------------------------


def test_export_refuses_a_folder_that_holds_anything_and_replaces_it_as_a_set(
    tmp_path, trained, capsys
):
    to = tmp_path / "hf"
    to.mkdir()
    (to / "tokenizer_config.json").write_text("{}")  # the user's own file
    fails(export_main, ["--out", str(trained), "--to", str(to)],
          f"--to {to} already holds tokenizer_config.json; pass --overwrite")  # fmt: skip
    assert (to / "tokenizer_config.json").read_text() == "{}"
    # the files of another model (GPT-2's vocabulary) would make the folder unusable
    for name in ("vocab.json", "merges.txt", "generation_config.json", "special_tokens_map.json"):
        (to / name).write_text('{"stale": 1}')
    export_main(["--out", str(trained), "--to", str(to), "--overwrite"])
    assert not {"vocab.json", "merges.txt", "generation_config.json"} & set(os.listdir(to))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    capsys.readouterr()
    sample_main(["--hf", str(to), "--prompt", "def ", "--max-new-tokens", "5"])
    assert capsys.readouterr().out.startswith("def ")


def test_a_killed_export_leaves_the_old_folder_whole(tmp_path, trained, monkeypatch):
    to = tmp_path / "hf"
    export_main(["--out", str(trained), "--to", str(to)])
    before = snapshot(to)

    def killed(model, path, tokenizer=None):
        (Path(path) / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(GPT, "save_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        export_main(["--out", str(trained), "--to", str(to), "--overwrite"])
    assert snapshot(to) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]  # and nothing beside it


def test_a_dangling_link_as_the_export_folder_is_one_line(tmp_path, trained):
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    fails(export_main, ["--out", str(trained), "--to", str(tmp_path / "link")],
          "--to", "a symbolic link to", "which does not exist")  # fmt: skip


def test_a_checkpoint_copied_in_from_another_run_is_not_resumed(tmp_path):
    """Its metrics would mix with this run's and its best.npz would replace this one's: each
    checkpoint records its run's identity, and resume refuses one that is not the folder's."""
    train(tmp_path / "a", steps=5)
    train(tmp_path / "b", steps=5)
    before = snapshot(tmp_path / "b")
    shutil.copy(tmp_path / "a" / "ckpt.npz", tmp_path / "b" / "ckpt.npz")
    fails(train_main, ["--out", str(tmp_path / "b"), "--resume", "--max-iters", "8"],
          "ckpt.npz: belongs to another run than", "best.npz beside it")  # fmt: skip
    assert {n: b for n, b in snapshot(tmp_path / "b").items() if n != "ckpt.npz"} == {
        n: b for n, b in before.items() if n != "ckpt.npz"
    }
    (tmp_path / "b" / "best.npz").unlink()  # without best.npz, the metrics still tell
    fails(train_main, ["--out", str(tmp_path / "b"), "--resume", "--max-iters", "8"],
          "metrics.jsonl: holds rows of another run")  # fmt: skip


def test_bad_seeds_betas_and_prompt_dtypes_are_named_not_numpys_words():
    config = GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=4)
    with pytest.raises(ValueError, match="^seed: expected a whole number >= 0, got -1$"):
        GPT(config, seed=-1)
    with pytest.raises(TypeError, match="^seed: expected a whole number >= 0, got 1.5$"):
        GPT(config, seed=1.5)
    with pytest.raises(ValueError, match=r"^betas: expected a pair \(beta1, beta2\), got 0.9$"):
        AdamW(GPT(config), 1e-3, betas=0.9)
    tok = CharTokenizer.train("ab")
    small = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1, n_embd=4))
    with pytest.raises(ValueError, match="^seed: expected a whole number >= 0, got -2$"):
        generate_text(small, tok, "ab", 3, seed=-2)
    # a uint64 prompt generates like an int64 one (uint64 and int64 together became float64)
    prompt = np.array([[1, 2]])
    out = GPT(config).generate(prompt.astype(np.uint64), 3, temperature=0)
    assert out.dtype == np.int64 and np.array_equal(
        out, GPT(config).generate(prompt, 3, temperature=0)
    )
