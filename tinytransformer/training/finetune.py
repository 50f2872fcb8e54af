"""Fine-tuning: the article's four steps (its section 3.2) as a run of the one training loop.

    1. load pretrained weights          config.init_from: a checkpoint (or none: from scratch)
    2. prepare the labeled task data     topic_task.load_task: paragraph -> kind of doc topic
    3. adjust only the last layers       config.trainable_blocks k: the last k blocks + the head
                                         train (config.head_warmup n: the head alone first)
    4. train with regularisation         dropout, weight decay, and early stopping (patience)
                                         that restores the best validation weights; optionally
                                         a warm-up and decay of the learning rate

    results, classifier = finetune(FinetuneConfig(init_from="out/best.npz"), "out-finetune")

Then the test split is scored once (accuracy, macro F1, confusion matrix) and everything is
written to OUT/results.json (and OUT/confusion.png). The settings are a FinetuneConfig
(config.py); the command line (commands/finetune.py) builds one from its flags. Nothing here
prints: messages go to `log`, and the progress bar is the caller's (`progress`).
Left out: checkpoints of the classifier (results are the product here), data augmentation,
layer-wise learning rates.
"""

import json

import numpy as np

from tinytransformer.evaluation.classification import classification_report, confusion_matrix
from tinytransformer.files import write_atomic
from tinytransformer.models.classifier import SequenceClassifier
from tinytransformer.models.config import PRESETS, GPTConfig
from tinytransformer.models.kinds import MODEL_KINDS, kind_of
from tinytransformer.models.memory import check_fits
from tinytransformer.models.transformer import MaskedLM, evaluating
from tinytransformer.plots import plot_confusion_matrix, png_bytes
from tinytransformer.text.batching import Batch
from tinytransformer.text.corpora import clean_text, load_corpus
from tinytransformer.text.tokenizers import CharTokenizer
from tinytransformer.text.topic_task import (
    LABEL_NAMES,
    heldout_paragraphs,
    load_task,
    pretraining_text,
)
from tinytransformer.training.checkpoint import load_backbone, saved_setting
from tinytransformer.training.config import ConfigError, FinetuneConfig
from tinytransformer.training.loop import SilentProgress, fit
from tinytransformer.training.rundir import prepare_run_dir, writing_run

RESULT_FILES = ("results.json", "confusion.png")  # what a fine-tuning run writes in out/


def build_backbone(config):
    """-> (backbone, tokenizer, where it came from, the corpus its weights were pretrained on:
    None for random weights, or when the checkpoint does not say)."""
    if config.init_from:
        sizes = {"block_size": config.block_size}
        ckpt = load_backbone(config.init_from, config.model, config.dropout, sizes)
        backbone = ckpt.model
        if config.scratch:  # same architecture and tokenizer, fresh random weights
            fresh = type(backbone)(backbone.config, seed=config.seed)
            return fresh, ckpt.tokenizer, f"scratch, shaped like {config.init_from}", None
        pretrained_on = saved_setting(ckpt, "data")
        return backbone, ckpt.tokenizer, str(config.init_from), pretrained_on
    # from scratch: the tokenizer a pretraining run on python-docs-pretrain would have, so the
    # comparison with a pretrained model differs only in the weights
    if config.scratch:
        raise ConfigError(
            "scratch",
            "takes the shape and tokenizer of the init_from checkpoint, but no init_from was "
            "given (without it the run is from scratch anyway)",
        )
    tokenizer = CharTokenizer.train(clean_text(pretraining_text()))
    sizes = dict(PRESETS[config.preset])
    if config.block_size is not None:
        sizes["block_size"] = config.block_size
    model_config = GPTConfig(vocab_size=tokenizer.vocab_size, dropout=config.dropout, **sizes)
    backbone = MODEL_KINDS[config.model or "mlm"](model_config, seed=config.seed)
    return backbone, tokenizer, "scratch", None


def contaminated(corpus):
    """How many of the task's test paragraphs a model pretrained on `corpus` has seen (0 when
    none, for the *-pretrain corpora, which leave them out by construction, or when the corpus
    cannot be read any more to tell)."""
    if corpus is None or corpus in ("python-docs-pretrain", "python-docs-stdlib-pretrain"):
        return 0
    try:
        text = " ".join(load_corpus(corpus).split())  # whitespace collapsed, as the paragraphs are
    except (OSError, ValueError, ConnectionError):
        return 0
    return sum(paragraph in text for paragraph in heldout_paragraphs(("test",)))


def evaluate_split(clf, split):
    """-> (mean loss, accuracy) over a whole split, in eval mode, in chunks of 64 rows."""
    ids, mask, labels = split
    losses, correct = [], 0
    with evaluating(clf):
        for i in range(0, len(ids), 64):
            logits, loss = clf(ids[i : i + 64], labels[i : i + 64], mask[i : i + 64])
            losses.append(float(loss) * len(logits))
            correct += int((logits.argmax(-1) == labels[i : i + 64]).sum())
    return sum(losses) / len(ids), correct / len(ids)


def finetune(config, out, *, overwrite=False, log=None, progress=None):
    """Fine-tune as `config` (a FinetuneConfig) says, writing out/results.json -> (results dict,
    the classifier with its best validation weights). overwrite: replace the results already in
    `out` (without it, such a folder is refused)."""
    if not isinstance(config, FinetuneConfig):
        raise TypeError(f"config: expected a FinetuneConfig, got {type(config).__name__}")
    log = log or (lambda message: None)
    # everything is checked, and every file read, before the first file is written
    replaced = prepare_run_dir(out, RESULT_FILES, overwrite=overwrite, resumable=False)
    backbone, tokenizer, source, pretrained_on = build_backbone(config)
    is_encoder = isinstance(backbone, MaskedLM)
    n_layer = backbone.config.n_layer
    if config.trainable_blocks is not None and config.trainable_blocks > n_layer:
        raise ConfigError(
            "trainable_blocks",
            f"expected 0..{n_layer} (the model's blocks), got {config.trainable_blocks}",
        )
    if config.pooling == "cls" and not is_encoder:
        raise ConfigError(
            "pooling",
            "expected last or mean for a GPT, got cls: a GPT's first position has seen only "
            "itself (attention is causal), so it cannot summarise the text",
        )
    caps = {} if config.train_per_class is None else {"train_cap": config.train_per_class}
    task = load_task(tokenizer, backbone.config.block_size, add_cls=is_encoder, **caps)
    clf = SequenceClassifier(
        backbone, len(LABEL_NAMES), config.pooling, config.dropout, config.seed
    )
    check_fits(backbone.config, config.batch_size, backbone.dtype)
    seen = contaminated(pretrained_on)
    if seen:
        log(
            f"warning: {config.init_from} was pretrained on text holding {seen} of the task's "
            "test paragraphs, so its test score is contaminated; pretrain on "
            "python-docs-pretrain for a clean one"
        )
    with writing_run(out, replaced, log) as folder:
        return _finetune(config, clf, task, source, folder, log, progress)


def _finetune(config, clf, task, source, out, log, progress):
    """The run proper, once the settings and out/ are checked and out/ is locked."""
    backbone = clf.backbone
    clf.freeze(config.trainable_blocks)
    n_trainable = sum(p.size for n, p in clf.params.items() if n not in clf.frozen)
    # With head_warmup, the head alone trains first (0 blocks), so that the first, large
    # gradients of a random head do not reach the pretrained blocks; then the blocks join.
    if config.head_warmup:
        clf.freeze(0)
    opt = config.make_optimizer(clf)  # over what is left trainable (it reads clf.frozen)
    log(
        f"{type(backbone).__name__} from {source}: {clf.num_parameters():,} parameters, "
        f"{n_trainable:,} trainable | task sizes: "
        + ", ".join(f"{s} {len(task[s][2])}" for s in ("train", "val", "test"))
    )
    # a small rate for the first steps keeps a random head's large gradients from overwriting
    # what the trunk learned in pretraining (defaults: one constant rate)
    schedule = config.make_schedule()
    if schedule.note:
        log(f"note: {schedule.note}")
    ids, mask, labels = task["train"]
    rng = np.random.default_rng([config.seed, 2])
    history, step_times = [], []
    bar = (progress or SilentProgress)(total=config.max_iters, initial=0)

    def next_batch():
        rows = rng.integers(0, len(ids), size=config.batch_size)  # (B,)
        return Batch(ids[rows], labels[rows], mask[rows])

    def evaluate(step):
        val_loss, val_acc = evaluate_split(clf, task["val"])
        return {"val_loss": val_loss, "val_acc": val_acc, "lr": schedule(step)}

    def on_eval(step, metrics, improved):
        history.append({"step": step, **metrics})
        bar.set_postfix(val_loss=f"{metrics['val_loss']:.3f}", val_acc=f"{metrics['val_acc']:.2f}")

    def on_step(step, loss, lr, seconds):
        step_times.append(seconds)
        bar.update(1)

    def before_step(step):
        if step == config.head_warmup > 0:  # warm-up over: the blocks join, with fresh moments
            clf.freeze(config.trainable_blocks)
            opt.set_trainable()

    result = fit(
        clf,
        opt,
        next_batch,
        evaluate,
        schedule,
        max_iters=config.max_iters,
        eval_interval=config.eval_interval,
        grad_clip=config.grad_clip,
        patience=config.patience,
        on_eval=on_eval,
        on_step=on_step,
        before_step=before_step,
    )
    bar.close()
    best = result.best
    if result.ended == "early stop":
        log(
            f"early stop at step {result.step}: no better val loss for {config.patience} "
            "evaluations"
        )
    best.restore(clf)  # the weights of the best validation loss
    test_ids, test_mask, test_labels = task["test"]
    pred = clf.predict(test_ids, test_mask, batch_size=64)
    report = classification_report(test_labels, pred, n_classes=len(LABEL_NAMES))
    results = {
        "source": source,
        "backbone": kind_of(backbone),
        "trainable_blocks": config.trainable_blocks,
        "trainable_parameters": int(n_trainable),
        "steps": result.step,
        "best_step": best.step,
        "val_loss": best.val_loss,
        "val_acc": best.metrics["val_acc"],
        "test_acc": report.accuracy,
        "test_macro_f1": report.macro_f1,
        "ms_per_step": 1e3 * float(np.median(step_times)) if step_times else None,
        "labels": list(LABEL_NAMES),
        "report": report.to_dict(),
        "history": history,
        "config": config.to_dict(),
    }
    write_atomic(out / "results.json", json.dumps(results, indent=2).encode())
    cm = confusion_matrix(test_labels, pred, len(LABEL_NAMES))
    write_atomic(out / "confusion.png", png_bytes(plot_confusion_matrix(cm, list(LABEL_NAMES))))
    log(
        f"best val loss {best.val_loss:.4f} (acc {best.metrics['val_acc']:.3f}) at step "
        f"{best.step}; test accuracy {report.accuracy:.3f}, macro F1 "
        f"{report.macro_f1:.3f}; {result.step} steps"
        + (f", {results['ms_per_step']:.1f} ms/step" if step_times else "")
        + f" -> {out / 'results.json'}"
    )
    return results, clf
