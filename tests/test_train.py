"""The training loop: reproducibility, exact resume, checkpoints, metrics and bad input.
Every run here is the "tiny" preset for a few dozen steps (about a second each)."""

import json
import math

import numpy as np
import pytest

from tinytransformer.commands.args import settings_given
from tinytransformer.commands.train import build_parser, main
from tinytransformer.models.gpt import GPT
from tinytransformer.training.checkpoint import load_checkpoint
from tinytransformer.training.config import ConfigError, PretrainConfig
from tinytransformer.training.loop import TrainingError
from tinytransformer.training.pretrain import pretrain, resume

TINY = ["--preset", "tiny", "--eval-interval", "10", "--eval-iters", "2", "--quiet"]


def run(argv, **kw):
    """The flags in argv as a PretrainConfig (the command line's parser), then the Python API:
    a new run, or the run resumed with the settings given -> (run, {step: loss})."""
    args = build_parser().parse_args(argv)
    given = settings_given(args, PretrainConfig)
    if args.resume:
        return resume(args.out, given, **kw)
    return pretrain(PretrainConfig(**given), args.out, overwrite=args.overwrite, **kw)


def test_same_seed_same_losses_and_the_loss_goes_down(tmp_path):
    argv = TINY + ["--max-iters", "40", "--learning-rate", "3e-3"]
    _, a = run(argv + ["--out", str(tmp_path / "a")])
    _, b = run(argv + ["--out", str(tmp_path / "b")])
    assert a == b and len(a) == 40
    _, c = run(argv + ["--out", str(tmp_path / "c"), "--seed", "7"])
    assert c != a
    metrics = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").open()]
    assert [m["step"] for m in metrics] == [0, 10, 20, 30, 40]
    assert {"step", "train_loss", "val_loss", "lr"} <= set(metrics[0])
    # the first evaluation is near ln(V) (chance) and training lowers it
    vocab = load_checkpoint(tmp_path / "a" / "ckpt.npz").model.config.vocab_size
    assert abs(metrics[0]["val_loss"] - math.log(vocab)) < 0.1
    assert metrics[-1]["val_loss"] < metrics[0]["val_loss"] - 0.3
    assert (tmp_path / "a" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("stop", [10, 17])  # at an evaluation step and between two
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, stop):
    argv = TINY + ["--max-iters", "30", "--dropout", "0.1"]  # dropout: its generator must resume
    _, full = run(argv + ["--out", str(tmp_path / "full")])
    _, first = run(argv + ["--out", str(tmp_path / "part")], stop_after=stop)
    assert len(first) == stop
    _, rest = run(["--out", str(tmp_path / "part"), "--resume", "--quiet"])
    assert {**first, **rest} == full  # bit-identical losses, every step
    full_w = load_checkpoint(tmp_path / "full" / "ckpt.npz").model.params
    part_w = load_checkpoint(tmp_path / "part" / "ckpt.npz").model.params
    assert all(np.array_equal(full_w[n], part_w[n]) for n in full_w)
    steps = [json.loads(line)["step"] for line in (tmp_path / "part" / "metrics.jsonl").open()]
    assert steps == [0, 10, 20, 30]  # no evaluation logged twice


def test_resume_can_train_longer_but_not_change_the_model(tmp_path):
    out = str(tmp_path / "r")
    run(TINY + ["--max-iters", "10", "--out", out])
    r, more = run(["--out", out, "--resume", "--max-iters", "20", "--quiet"])
    assert sorted(more) == list(range(10, 20)) and r.step == 20
    with pytest.raises(
        ConfigError, match="n_layer: 3 does not match .*ckpt.npz, whose model has 2"
    ):
        run(["--out", out, "--resume", "--n-layer", "3", "--quiet"])


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "nan"
    forward = GPT.forward
    calls = {"n": 0}

    def poisoned(self, idx, targets=None, attention_mask=None):
        logits, loss = forward(self, idx, targets, attention_mask)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 15:
                loss = np.float32("nan")
        return logits, loss

    monkeypatch.setattr(GPT, "forward", poisoned)
    with pytest.raises(TrainingError, match=r"step 14: loss nan is not finite.*ckpt.npz"):
        run(TINY + ["--max-iters", "30", "--out", str(out)])
    ckpt = load_checkpoint(out / "ckpt.npz")
    assert ckpt.step == 10  # the last evaluation's checkpoint, untouched
    assert all(np.isfinite(p).all() for p in ckpt.model.params.values())


def test_init_from_loads_weights_and_rejects_a_mismatched_config(tmp_path):
    src = tmp_path / "src"
    r, _ = run(TINY + ["--max-iters", "10", "--out", str(src)])
    new, _ = run(TINY + ["--max-iters", "0", "--init-from", str(src / "ckpt.npz"),
                         "--out", str(tmp_path / "dst")])  # fmt: skip
    trained = load_checkpoint(src / "ckpt.npz").model.params
    assert all(np.array_equal(new.model.params[n], trained[n]) for n in trained)
    with pytest.raises(
        ConfigError, match="n_embd: 32 does not match .*ckpt.npz, whose model has 16"
    ):
        run(TINY + ["--init-from", str(src / "ckpt.npz"), "--n-embd", "32", "--out", str(tmp_path)])


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    short = tmp_path / "short.txt"
    short.write_text("just a few words, far too short to hold a block of text " * 2)
    with pytest.raises(
        SystemExit,
        match=r"--data: the val split of .*short.txt has \d+ tokens, fewer than --block-size \+ 1",
    ):
        main(TINY + ["--data", str(short), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="does-not-exist.txt"):
        main(TINY + ["--data", str(tmp_path / "does-not-exist.txt"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"ckpt.npz: no such checkpoint file"):
        main(["--resume", "--out", str(tmp_path / "empty")])
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "ckpt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SystemExit, match=r"ckpt.npz: not a readable checkpoint"):
        main(["--resume", "--out", str(corrupt)])


def test_grad_clip_0_switches_clipping_off_and_still_learns(tmp_path):
    """With --grad-clip 0 the updates are the unclipped ones: the same losses as with a limit no
    gradient reaches, and not those of the default limit 1.0, which the gradient norms of this
    run's first dozen steps exceed (measured: 1.1 to 1.4)."""
    argv = TINY + ["--max-iters", "30", "--learning-rate", "3e-3"]
    _, off = run(argv + ["--grad-clip", "0", "--out", str(tmp_path / "off")])
    _, unreached = run(argv + ["--grad-clip", "1e9", "--out", str(tmp_path / "unreached")])
    _, clipped = run(argv + ["--grad-clip", "1", "--out", str(tmp_path / "clipped")])
    assert off == unreached and off != clipped
    assert np.mean(list(off.values())[-5:]) < np.mean(list(off.values())[:5]) - 0.3


def test_count_flags_are_checked(tmp_path):
    for flag in ("--eval-interval", "--eval-iters", "--batch-size"):
        with pytest.raises(SystemExit, match=f"error: {flag}: expected a whole number >= 1, got 0"):
            main(TINY + [flag, "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--vocab-size: the char tokenizer's vocabulary"):
        main(TINY + ["--vocab-size", "300", "--out", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
