"""Fine-tuning (article section 3.2) and continued pretraining on a new domain."""

import json

import numpy as np
import pytest

import tinytransformer.models.transformer as transformer_module
import tinytransformer.training.config as config_module
from tinytransformer.commands.args import settings_given
from tinytransformer.commands.finetune import build_parser
from tinytransformer.evaluation.classification import accuracy, classification_report
from tinytransformer.models.classifier import SequenceClassifier
from tinytransformer.text.topic_task import heldout_paragraphs, load_task
from tinytransformer.training.checkpoint import CheckpointError, load_checkpoint
from tinytransformer.training.config import ConfigError, FinetuneConfig, PretrainConfig
from tinytransformer.training.finetune import evaluate_split, finetune
from tinytransformer.training.optimizer import AdamW
from tinytransformer.training.pretrain import pretrain as train
from tinytransformer.training.schedule import get_lr

SMALL_RUN = dict(preset="tiny", max_iters=60, learning_rate=3e-3, eval_interval=30, eval_iters=2)


def pretrain(out, model="mlm", data="python-docs-pretrain", **settings):
    """A tiny pretraining run through the Python API -> its checkpoint's path."""
    train(PretrainConfig(model=model, data=data, **{**SMALL_RUN, **settings}), out)
    return out / "ckpt.npz"


@pytest.fixture(scope="module")
def mlm_ckpt(tmp_path_factory):
    return pretrain(tmp_path_factory.mktemp("mlm"))


def task_of(ckpt_path):
    """The task's splits encoded as fine-tuning encodes them for this checkpoint's encoder."""
    ckpt = load_checkpoint(ckpt_path)
    return load_task(ckpt.tokenizer, ckpt.model.config.block_size, add_cls=True)


def ft(argv, **kw):
    """The finetune command's flags as a FinetuneConfig, run through the Python API."""
    args = build_parser().parse_args(argv + ["--quiet"])
    config = FinetuneConfig(**settings_given(args, FinetuneConfig))
    return finetune(config, args.out, overwrite=args.overwrite, **kw)


def test_frozen_blocks_are_not_updated_and_the_results_are_written(mlm_ckpt, tmp_path):
    before = load_checkpoint(mlm_ckpt).model.params
    argv = ["--init-from", str(mlm_ckpt), "--trainable-blocks", "1", "--max-iters", "20",
            "--eval-interval", "10", "--out", str(tmp_path), "--learning-rate", "1e-3"]  # fmt: skip
    r, clf = ft(argv)
    after = clf.backbone.params
    for name in before:
        if not (name.startswith("transformer.h.1.") or name.startswith("transformer.ln_f")):
            assert np.array_equal(before[name], after[name]), f"frozen {name} changed"
    n_trainable = sum(p.size for n, p in after.items() if not n.startswith("transformer.h.0."))
    n_trainable -= after["transformer.wte.weight"].size + after["transformer.wpe.weight"].size
    assert r["trainable_parameters"] == n_trainable + clf.head["classifier.weight"].size + 4
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test_acc"] == r["test_acc"] and saved["report"] == r["report"]
    # the reported scores are those of the returned classifier on the test split
    test_ids, test_mask, test_labels = task_of(mlm_ckpt)["test"]
    pred = clf.predict(test_ids, test_mask)
    assert r["test_acc"] == accuracy(test_labels, pred)
    assert r["test_macro_f1"] == classification_report(test_labels, pred, n_classes=4).macro_f1
    assert sum(c["support"] for c in r["report"]["classes"].values()) == len(test_labels) == 200
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert r["steps"] == 20 and len(r["history"]) == 3


def test_backward_stops_at_the_lowest_trainable_block(mlm_ckpt, monkeypatch):
    model = load_checkpoint(mlm_ckpt).model  # 2 blocks
    clf = SequenceClassifier(model, 4)
    calls = []
    real = transformer_module.block_backward
    monkeypatch.setattr(
        transformer_module, "block_backward", lambda d, c: calls.append(1) or real(d, c)
    )
    idx = np.random.default_rng(0).integers(0, model.config.vocab_size, (3, 8))
    for k, expected_calls in [(2, 2), (1, 1), (0, 0)]:
        calls.clear()
        clf.freeze(k)
        clf(idx, np.array([0, 1, 2]))
        grads = clf.backward()
        assert len(calls) == expected_calls
        lowest = model.config.n_layer - k
        assert all(not n.startswith(f"transformer.h.{i}.") for n in grads for i in range(lowest))
        assert "classifier.weight" in grads
        assert "transformer.wte.weight" not in grads  # frozen for every k: it is the LM head too


def test_early_stopping_restores_the_best_weights(mlm_ckpt, tmp_path):
    # a learning rate this high makes validation loss go up soon; patience 2 stops the run
    r, clf = ft(["--init-from", str(mlm_ckpt), "--max-iters", "400", "--eval-interval", "5",
            "--patience", "2", "--learning-rate", "0.05", "--out", str(tmp_path)])  # fmt: skip
    assert r["steps"] < 400
    losses = [h["val_loss"] for h in r["history"]]
    assert r["val_loss"] == min(losses) and r["best_step"] < r["steps"]
    assert r["history"][-1]["val_loss"] > r["val_loss"]  # the last weights were worse
    # ... and the classifier handed back holds the best ones, not the last
    val_loss, val_acc = evaluate_split(clf, task_of(mlm_ckpt)["val"])
    assert val_loss == pytest.approx(r["val_loss"], rel=1e-6)
    assert val_acc == r["val_acc"]


def test_mismatched_flags_are_clear_errors(mlm_ckpt, tmp_path):
    with pytest.raises(ConfigError, match="model: gpt does not match .*ckpt.npz, which holds a"):
        ft(["--init-from", str(mlm_ckpt), "--model", "gpt", "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match="block_size: 32 does not match .*, whose model has 16"):
        ft(["--init-from", str(mlm_ckpt), "--block-size", "32", "--out", str(tmp_path)])
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        ft(["--init-from", str(tmp_path / "nope.npz"), "--out", str(tmp_path)])


def test_continued_pretraining_on_a_new_domain_starts_below_scratch(tmp_path):
    """A GPT pretrained on the docs, trained further on held-out text (a lower learning rate),
    begins with a lower validation loss than the same model trained from scratch on it."""
    gpt = pretrain(tmp_path / "gpt", model="gpt")
    new_domain = tmp_path / "heldout.txt"
    new_domain.write_text("\n\n".join(sorted(heldout_paragraphs())))
    common = PretrainConfig(
        data=str(new_domain), preset="tiny", max_iters=10, eval_interval=10, eval_iters=4
    )
    train(common.replace(init_from=str(gpt), learning_rate=3e-4), tmp_path / "c")
    train(common, tmp_path / "s")
    first = [json.loads((tmp_path / d / "metrics.jsonl").open().readline()) for d in "cs"]
    assert first[0]["val_loss"] < first[1]["val_loss"] - 0.2


def test_the_optimizer_moves_exactly_the_unfrozen_parameters(mlm_ckpt):

    model = load_checkpoint(mlm_ckpt).model
    clf = SequenceClassifier(model, 4).freeze(1)
    before = {n: p.copy() for n, p in clf.params.items()}
    opt = AdamW(clf, 1e-2)
    rng = np.random.default_rng(0)
    for _ in range(3):
        clf(rng.integers(0, model.config.vocab_size, (4, 8)), rng.integers(0, 4, 4))
        clf.backward()
        opt.step()
    for name, p in clf.params.items():
        trains = name.startswith(("transformer.h.1.", "transformer.ln_f", "classifier."))
        assert np.array_equal(p, before[name]) != trains, name


def test_zero_steps_scores_the_untrained_head(mlm_ckpt, tmp_path):
    r, _ = ft(["--init-from", str(mlm_ckpt), "--max-iters", "0", "--out", str(tmp_path)])
    assert r["steps"] == 0 and r["ms_per_step"] is None and r["best_step"] == 0


def test_scratch_takes_the_checkpoints_shape_and_tokenizer_but_not_its_weights(mlm_ckpt, tmp_path):
    trained = load_checkpoint(mlm_ckpt).model.params
    r, clf = ft(["--init-from", str(mlm_ckpt), "--scratch", "--max-iters", "0",
                 "--train-per-class", "5", "--out", str(tmp_path)])  # fmt: skip
    assert r["source"].startswith("scratch")
    fresh = clf.backbone.params
    assert set(fresh) == set(trained)
    assert all(fresh[n].shape == trained[n].shape for n in trained)
    assert not np.array_equal(fresh["transformer.h.0.attn.c_attn.weight"],
                              trained["transformer.h.0.attn.c_attn.weight"])  # fmt: skip


def test_head_warmup_trains_the_head_alone_then_everything(mlm_ckpt, tmp_path, monkeypatch):

    made = []  # one [names, steps taken] per optimizer finetune makes

    class Recording(AdamW):
        def set_trainable(self, trainable=None):  # (the constructor calls it too)
            super().set_trainable(trainable)
            made.append([set(self.names), 0])

        def step(self, grads_checked=False):
            made[-1][1] += 1
            super().step(grads_checked)

    monkeypatch.setattr(config_module, "AdamW", Recording)
    r, clf = ft(["--init-from", str(mlm_ckpt), "--head-warmup", "3", "--max-iters", "7",
               "--eval-interval", "100", "--out", str(tmp_path)])  # fmt: skip
    (head_names, head_steps), (all_names, all_steps) = made
    assert (head_steps, all_steps) == (3, 4)
    assert head_names == {n for n in all_names if n.startswith(("classifier.", "transformer.ln_f"))}
    assert {"transformer.wte.weight", "transformer.h.0.attn.c_attn.weight"} <= all_names
    assert r["trainable_parameters"] == sum(p.size for p in clf.params.values())


def test_freeze_none_unfreezes_everything(mlm_ckpt):
    model = load_checkpoint(mlm_ckpt).model
    assert model.freeze(0).frozen and not model.freeze(None).frozen


def test_learning_rate_warms_up_then_decays_as_train_does(mlm_ckpt, tmp_path, monkeypatch):

    used = []  # the rate of every step taken

    class Recording(AdamW):
        def step(self, grads_checked=False):
            used.append(self.lr)
            super().step(grads_checked)

    monkeypatch.setattr(config_module, "AdamW", Recording)
    r, _ = ft(["--init-from", str(mlm_ckpt), "--learning-rate", "1e-3", "--warmup-iters", "3",
               "--min-lr", "1e-4", "--max-iters", "8", "--eval-interval", "4",
               "--out", str(tmp_path)])  # fmt: skip
    assert used == [get_lr(i, 1e-3, 3, 8, 1e-4) for i in range(8)]
    assert used[0] < used[1] < used[2] < used[3] == 1e-3 > used[4] > used[7] > 1e-4
    assert [h["lr"] for h in r["history"]] == [used[0], used[4], 1e-4]  # steps 0, 4, 8

    used.clear()  # the defaults: one constant rate
    ft(["--init-from", str(mlm_ckpt), "--max-iters", "3", "--out", str(tmp_path / "constant")])
    assert used == [3e-4] * 3


def test_a_backbone_pretrained_on_the_test_paragraphs_warns_that_the_score_is_contaminated(
    mlm_ckpt, tmp_path
):
    """python-docs holds the task's test paragraphs: fine-tuning from a model pretrained on it
    warns; python-docs-pretrain leaves them out, and --scratch has random weights: no warning."""
    dirty = pretrain(tmp_path / "dirty", data="python-docs", max_iters=2)

    def warnings_of(argv, out):
        heard = []
        ft(argv + ["--max-iters", "0", "--out", str(tmp_path / out)], log=heard.append)
        return [m for m in heard if m.startswith("warning:")]

    n = len(heldout_paragraphs(("test",)))
    warned = warnings_of(["--init-from", str(dirty)], "a")
    assert len(warned) == 1 and f"holding {n} of the task's test paragraphs" in warned[0]
    assert warnings_of(["--init-from", str(mlm_ckpt)], "b") == []
    assert warnings_of(["--init-from", str(dirty), "--scratch"], "c") == []
