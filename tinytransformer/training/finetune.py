"""Fine-tuning: the article's four steps (its section 3.2) as a run of the one training loop.

    1. load pretrained weights          args.init_from: a checkpoint (or none: from scratch)
    2. prepare the labeled task data     topic_task.load_task: paragraph -> kind of doc topic
    3. adjust only the last layers       args.trainable_blocks k: the last k blocks + the head
                                         train (args.head_warmup n: the head alone first)
    4. train with regularisation         dropout, weight decay, and early stopping (patience)
                                         that restores the best validation weights; optionally
                                         a warm-up and decay of the learning rate

Then the test split is scored once (accuracy, macro F1, confusion matrix) and everything is
written to OUT/results.json (and OUT/confusion.png). `args` holds the settings under the names
of the `finetune` command's flags (commands/finetune.py). Nothing here prints: messages go to
`log`, and the progress bar is the caller's (`progress`).
Left out: checkpoints of the classifier (results are the product here), data augmentation,
layer-wise learning rates.
"""

import dataclasses
import json

import numpy as np

from tinytransformer.evaluation.classification import classification_report, confusion_matrix
from tinytransformer.files import write_atomic
from tinytransformer.models.classifier import SequenceClassifier
from tinytransformer.models.config import PRESETS, GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.memory import check_fits
from tinytransformer.models.transformer import MaskedLM, evaluating
from tinytransformer.plots import plot_confusion_matrix
from tinytransformer.text.corpora import clean_text, load_corpus
from tinytransformer.text.tokenizers import CharTokenizer
from tinytransformer.text.topic_task import (
    LABEL_NAMES,
    heldout_paragraphs,
    load_task,
    pretraining_text,
)
from tinytransformer.training.checkpoint import CheckpointError, load_checkpoint
from tinytransformer.training.loop import SilentProgress, fit
from tinytransformer.training.optimizer import AdamW
from tinytransformer.training.rundir import prepare_run_dir, writing_run
from tinytransformer.training.schedule import Schedule
from tinytransformer.training.settings import check_training_settings

ARCHS = {"gpt": GPT, "mlm": MaskedLM}
RESULT_FILES = ("results.json", "confusion.png")  # what a fine-tuning run writes in --out


def build_backbone(args):
    """-> (backbone, tokenizer, where it came from, the corpus its weights were pretrained on:
    None for random weights, or when the checkpoint does not say)."""
    if args.init_from:
        ckpt = load_checkpoint(args.init_from)
        if ckpt.tokenizer is None:
            raise CheckpointError(f"{args.init_from}: has no tokenizer to encode the task with")
        backbone = ckpt.model
        if args.arch is not None and not isinstance(backbone, ARCHS[args.arch]):
            raise CheckpointError(
                f"{args.init_from}: --arch {args.arch} does not match the checkpoint's "
                f"{type(backbone).__name__}"
            )
        if args.block_size is not None and args.block_size != backbone.config.block_size:
            raise CheckpointError(
                f"{args.init_from}: --block-size {args.block_size} does not match the "
                f"checkpoint's block_size={backbone.config.block_size}"
            )
        backbone.config = dataclasses.replace(backbone.config, dropout=args.dropout)  # checked
        if args.scratch:  # same architecture and tokenizer, fresh random weights
            fresh = type(backbone)(backbone.config, seed=args.seed)
            return fresh, ckpt.tokenizer, f"scratch, shaped like {args.init_from}", None
        pretrained_on = ckpt.meta.get("extra", {}).get("args", {}).get("data")
        return backbone, ckpt.tokenizer, str(args.init_from), pretrained_on
    # from scratch: the tokenizer a pretraining run on python-docs-pretrain would have, so the
    # comparison with a pretrained model differs only in the weights
    if args.scratch:
        raise ValueError(
            "--scratch: takes the shape and tokenizer of the --init-from checkpoint, but no "
            "--init-from was given (without it the run is from scratch anyway)"
        )
    tokenizer = CharTokenizer.train(clean_text(pretraining_text()))
    sizes = dict(PRESETS[args.preset])
    if args.block_size is not None:
        sizes["block_size"] = args.block_size
    config = GPTConfig(vocab_size=tokenizer.vocab_size, dropout=args.dropout, **sizes)
    return ARCHS[args.arch or "mlm"](config, seed=args.seed), tokenizer, "scratch", None


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


def finetune(args, log=None, progress=None):
    """Run fine-tuning -> (results dict, also written to OUT/results.json; the classifier with
    its best validation weights)."""
    log = log or (lambda message: None)
    # everything is checked, and every file read, before the first file is written
    check_training_settings(args)
    overwrite = getattr(args, "overwrite", False)
    replaced = prepare_run_dir(args.out, RESULT_FILES, overwrite=overwrite, resumable=False)
    backbone, tokenizer, source, pretrained_on = build_backbone(args)
    is_encoder = isinstance(backbone, MaskedLM)
    n_layer = backbone.config.n_layer
    if args.trainable_blocks is not None and args.trainable_blocks > n_layer:
        raise ValueError(
            f"--trainable-blocks: expected 0..{n_layer} (the model's blocks), got "
            f"{args.trainable_blocks}"
        )
    if args.pooling == "cls" and not is_encoder:
        raise ValueError(
            "--pooling cls: a GPT's first position has seen only itself (attention is causal), "
            "so it cannot summarise the text; use last or mean"
        )
    caps = {} if args.train_per_class is None else {"train_cap": args.train_per_class}
    task = load_task(tokenizer, backbone.config.block_size, add_cls=is_encoder, **caps)
    clf = SequenceClassifier(backbone, len(LABEL_NAMES), args.pooling, args.dropout, args.seed)
    check_fits(backbone.config, args.batch_size, backbone.dtype)
    seen = contaminated(pretrained_on)
    if seen:
        log(
            f"warning: {args.init_from} was pretrained on text holding {seen} of the task's "
            "test paragraphs, so its test score is contaminated; pretrain on "
            "python-docs-pretrain for a clean one"
        )
    with writing_run(args.out, replaced, log) as out:
        return _finetune(args, clf, task, source, out, log, progress)


def _finetune(args, clf, task, source, out, log, progress):
    """The run proper, once the settings and --out are checked and --out is locked."""
    backbone = clf.backbone

    def optimizer(trainable_blocks):
        """Freeze, then a new AdamW over what is left trainable (it reads `clf.frozen`)."""
        clf.freeze(trainable_blocks)
        return AdamW(
            clf, args.learning_rate, betas=(args.beta1, args.beta2), weight_decay=args.weight_decay
        )

    clf.freeze(args.trainable_blocks)
    n_trainable = sum(p.size for n, p in clf.params.items() if n not in clf.frozen)
    # With --head-warmup, the head alone trains first (0 blocks), so that the first, large
    # gradients of a random head do not reach the pretrained blocks; then the blocks join.
    opt = optimizer(0 if args.head_warmup else args.trainable_blocks)
    log(
        f"{type(backbone).__name__} from {source}: {clf.num_parameters():,} parameters, "
        f"{n_trainable:,} trainable | task sizes: "
        + ", ".join(f"{s} {len(task[s][2])}" for s in ("train", "val", "test"))
    )
    # a small rate for the first steps keeps a random head's large gradients from overwriting
    # what the trunk learned in pretraining (defaults: one constant rate)
    schedule = Schedule(
        args.learning_rate, args.min_lr, args.warmup_iters, args.max_iters, args.lr_decay_iters
    )
    if schedule.note:
        log(f"note: {schedule.note}")
    ids, mask, labels = task["train"]
    rng = np.random.default_rng([args.seed, 2])
    history, step_times = [], []
    bar = (progress or SilentProgress)(total=args.max_iters, initial=0)

    def next_batch():
        rows = rng.integers(0, len(ids), size=args.batch_size)  # (B,)
        return ids[rows], labels[rows], mask[rows]

    def evaluate(step):
        val_loss, val_acc = evaluate_split(clf, task["val"])
        return {"val_loss": val_loss, "val_acc": val_acc, "lr": schedule(step)}

    def on_eval(step, metrics, improved):
        history.append({"step": step, **metrics})
        bar.set_postfix(val_loss=f"{metrics['val_loss']:.3f}", val_acc=f"{metrics['val_acc']:.2f}")

    def on_step(step, loss, lr, seconds):
        step_times.append(seconds)
        bar.update(1)

    def before_step(step, opt):
        if step == args.head_warmup > 0:  # warm-up over: the blocks join, with fresh moments
            return optimizer(args.trainable_blocks)
        return opt

    result = fit(
        clf,
        opt,
        next_batch,
        evaluate,
        schedule,
        max_iters=args.max_iters,
        eval_interval=args.eval_interval,
        grad_clip=args.grad_clip,
        patience=args.patience,
        on_eval=on_eval,
        on_step=on_step,
        before_step=before_step,
    )
    bar.close()
    best = result.best
    if result.ended == "early stop":
        log(f"early stop at step {result.step}: no better val loss for {args.patience} evaluations")
    best.restore(clf)  # the weights of the best validation loss
    test_ids, test_mask, test_labels = task["test"]
    pred = clf.predict(test_ids, test_mask, batch_size=64)
    report = classification_report(test_labels, pred, n_classes=len(LABEL_NAMES))
    results = {
        "source": source,
        "backbone": type(backbone).__name__,
        "trainable_blocks": args.trainable_blocks,
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
        "args": vars(args),
    }
    write_atomic(out / "results.json", json.dumps(results, indent=2).encode())
    cm = confusion_matrix(test_labels, pred, len(LABEL_NAMES))
    plot_confusion_matrix(cm, list(LABEL_NAMES)).savefig(out / "confusion.png")
    log(
        f"best val loss {best.val_loss:.4f} (acc {best.metrics['val_acc']:.3f}) at step "
        f"{best.step}; test accuracy {report.accuracy:.3f}, macro F1 "
        f"{report.macro_f1:.3f}; {result.step} steps"
        + (f", {results['ms_per_step']:.1f} ms/step" if step_times else "")
        + f" -> {out / 'results.json'}"
    )
    return results, clf
