"""Fine-tuning: `python -m tinytransformer finetune`, the article's four steps (its section 3.2):

    1. load pretrained weights          --init-from CHECKPOINT (or none: train from scratch)
    2. prepare the labeled task data     tasks.load_task: paragraph -> kind of Python doc topic
    3. adjust only the last layers       --trainable-blocks k: the last k blocks + the head train
                                         (--head-warmup n: the head alone for the first n steps)
    4. train with regularisation         --dropout, --weight-decay, early stopping (--patience)
                                         that restores the best validation weights; optionally
                                         a warm-up and decay of the learning rate
                                         (--warmup-iters, --min-lr: train's schedule)

Then the test split is scored once (accuracy, macro F1, confusion matrix) and everything is
written to OUT/results.json (and OUT/confusion.png).
Left out: checkpoints of the classifier (results are the product here), data augmentation,
layer-wise learning rates.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from tinytransformer.checkpoint import CheckpointError, load_checkpoint
from tinytransformer.checks import non_negative_int, positive_int
from tinytransformer.classifier import SequenceClassifier
from tinytransformer.files import write_atomic
from tinytransformer.metrics import classification_report, plot_confusion_matrix
from tinytransformer.mlm import MaskedLM
from tinytransformer.model import GPT, PRESETS, GPTConfig, evaluating
from tinytransformer.optim import AdamW, clip_grad_norm, get_lr
from tinytransformer.tasks import LABEL_NAMES, load_task
from tinytransformer.tokenizer import CharTokenizer

ARCHS = {"gpt": GPT, "mlm": MaskedLM}


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m tinytransformer finetune",
        description="Fine-tune a pretrained model (or train from scratch) on the Python-docs "
        "topic classification task; write results.json.",
    )
    p.add_argument("--init-from", default=None, help="pretrained checkpoint (default: scratch)")
    p.add_argument(
        "--arch",
        default=None,
        choices=sorted(ARCHS),
        help="from scratch: the backbone (default mlm); with --init-from, must match",
    )
    p.add_argument(
        "--scratch",
        action="store_true",
        help="with --init-from: take the checkpoint's config and tokenizer but not its weights "
        "(the from-scratch baseline that differs from fine-tuning only in the weights)",
    )
    p.add_argument("--preset", default="small", choices=sorted(PRESETS), help="from scratch only")
    p.add_argument("--block-size", type=positive_int, default=None, help="from scratch only")
    p.add_argument("--trainable-blocks", type=non_negative_int, default=None,
                   help="train only the last k blocks and the head (0: the head alone); "
                   "default: everything")  # fmt: skip
    p.add_argument("--head-warmup", type=non_negative_int, default=0,
                   help="train the head alone for this many steps first, then the blocks too "
                   "(linear probing, then fine-tuning); default 0")  # fmt: skip
    p.add_argument("--pooling", default=None, choices=("cls", "mean", "last"))
    p.add_argument(
        "--train-per-class",
        type=positive_int,
        default=None,
        help="labelled training paragraphs per class (default: the task's 75)",
    )
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument(
        "--warmup-iters",
        type=non_negative_int,
        default=0,
        help="linear warm-up of the learning rate over this many steps (default 0)",
    )
    p.add_argument("--min-lr", type=float, default=None,
                   help="cosine decay to this rate at --max-iters (default: --learning-rate, "
                   "i.e. no decay)")  # fmt: skip
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--max-iters", type=non_negative_int, default=600)
    p.add_argument("--eval-interval", type=positive_int, default=20)
    p.add_argument("--patience", type=positive_int, default=8,
                   help="stop after this many evaluations without a better val loss")  # fmt: skip
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out-finetune")
    p.add_argument("--quiet", action="store_true")
    return p


def build_backbone(args):
    """-> (backbone, tokenizer, where it came from)."""
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
        backbone.config.dropout = args.dropout
        if args.scratch:  # same architecture and tokenizer, fresh random weights
            fresh = type(backbone)(backbone.config, seed=args.seed)
            return fresh, ckpt.tokenizer, f"scratch, shaped like {args.init_from}"
        return backbone, ckpt.tokenizer, str(args.init_from)
    # from scratch: the tokenizer a pretraining run on python-docs-pretrain would have, so the
    # comparison with a pretrained model differs only in the weights
    from tinytransformer.data import clean_text
    from tinytransformer.tasks import pretraining_text

    tokenizer = CharTokenizer.train(clean_text(pretraining_text()))
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size, dropout=args.dropout, **PRESETS[args.preset]
    )
    return ARCHS[args.arch or "mlm"](config, seed=args.seed), tokenizer, "scratch"


def evaluate(clf, split):
    """-> (mean loss, accuracy) over a whole split, in eval mode, in chunks of 64 rows."""
    ids, mask, labels = split
    losses, correct = [], 0
    with evaluating(clf):
        for i in range(0, len(ids), 64):
            logits, loss = clf(ids[i : i + 64], labels[i : i + 64], mask[i : i + 64])
            losses.append(float(loss) * len(logits))
            correct += int((logits.argmax(-1) == labels[i : i + 64]).sum())
    return sum(losses) / len(ids), correct / len(ids)


def finetune(args, log=print):
    """Run fine-tuning -> (results dict, also written to OUT/results.json; the classifier with
    its best validation weights)."""
    from tqdm.auto import tqdm

    backbone, tokenizer, source = build_backbone(args)
    is_encoder = isinstance(backbone, MaskedLM)
    caps = {} if args.train_per_class is None else {"train_cap": args.train_per_class}
    task = load_task(tokenizer, backbone.config.block_size, add_cls=is_encoder, **caps)
    clf = SequenceClassifier(backbone, len(LABEL_NAMES), args.pooling, args.dropout, args.seed)

    def optimizer(trainable_blocks):
        """Freeze, then a new AdamW over what is left trainable (it reads `clf.frozen`)."""
        clf.freeze(trainable_blocks)
        return AdamW(clf, args.learning_rate, betas=(0.9, 0.99), weight_decay=args.weight_decay)

    # With --head-warmup, the head alone trains first (0 blocks), so that the first, large
    # gradients of a random head do not reach the pretrained blocks; then the blocks join.
    clf.freeze(args.trainable_blocks)
    n_trainable = sum(p.size for n, p in clf.params.items() if n not in clf.frozen)
    opt = optimizer(0 if args.head_warmup else args.trainable_blocks)
    log(
        f"{type(backbone).__name__} from {source}: {clf.num_parameters():,} parameters, "
        f"{n_trainable:,} trainable | task sizes: "
        + ", ".join(f"{s} {len(task[s][2])}" for s in ("train", "val", "test"))
    )
    min_lr = args.learning_rate if args.min_lr is None else args.min_lr
    decay_end = max(args.max_iters, args.warmup_iters)  # get_lr: the decay ends after warm-up
    ids, mask, labels = task["train"]
    rng = np.random.default_rng([args.seed, 2])
    best = {"val_loss": math.inf, "step": 0, "state": clf.state_dict()}
    history, bad_evals, step, step_times = [], 0, 0, []
    bar = tqdm(total=args.max_iters, disable=args.quiet, unit="step", dynamic_ncols=True)
    clf.train()
    while True:
        # a small rate for the first steps keeps a random head's large gradients from
        # overwriting what the trunk learned in pretraining (defaults: a constant rate)
        lr = get_lr(step, args.learning_rate, args.warmup_iters, decay_end, min_lr)
        if step % args.eval_interval == 0 or step == args.max_iters:
            val_loss, val_acc = evaluate(clf, task["val"])
            history.append({"step": step, "val_loss": val_loss, "val_acc": val_acc, "lr": lr})
            if val_loss < best["val_loss"]:
                best = {"val_loss": val_loss, "val_acc": val_acc, "step": step,
                        "state": clf.state_dict()}  # fmt: skip
                bad_evals = 0
            else:
                bad_evals += 1
            bar.set_postfix(val_loss=f"{val_loss:.3f}", val_acc=f"{val_acc:.2f}")
            if bad_evals >= args.patience:
                log(f"early stop at step {step}: no better val loss for {bad_evals} evaluations")
                break
        if step >= args.max_iters:
            break
        if step == args.head_warmup > 0:  # warm-up over: the blocks join, with fresh moments
            opt = optimizer(args.trainable_blocks)
        opt.lr = lr
        t0 = time.perf_counter()
        rows = rng.integers(0, len(ids), size=args.batch_size)  # (B,)
        _, loss = clf(ids[rows], labels[rows], mask[rows])
        clf.backward()
        if args.grad_clip > 0:
            clip_grad_norm(clf, args.grad_clip, names=opt.names)
        opt.step()
        step_times.append(time.perf_counter() - t0)
        step += 1
        bar.update(1)
    bar.close()
    clf.load_state_dict(best["state"])  # the weights of the best validation loss
    test_ids, test_mask, test_labels = task["test"]
    pred = clf.predict(test_ids, test_mask, batch_size=64)
    report = classification_report(test_labels, pred, n_classes=len(LABEL_NAMES))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "source": source,
        "backbone": type(backbone).__name__,
        "trainable_blocks": args.trainable_blocks,
        "trainable_parameters": int(n_trainable),
        "steps": step,
        "best_step": best["step"],
        "val_loss": best["val_loss"],
        "val_acc": best["val_acc"],
        "test_acc": report.accuracy,
        "test_macro_f1": report.macro_f1,
        "ms_per_step": 1e3 * float(np.median(step_times)) if step_times else None,
        "labels": list(LABEL_NAMES),
        "report": report.to_dict(),
        "history": history,
        "args": vars(args),
    }
    write_atomic(out / "results.json", json.dumps(results, indent=2).encode())
    from tinytransformer.metrics import confusion_matrix

    cm = confusion_matrix(test_labels, pred, len(LABEL_NAMES))
    plot_confusion_matrix(cm, list(LABEL_NAMES), out / "confusion.png")
    log(
        f"best val loss {best['val_loss']:.4f} (acc {best['val_acc']:.3f}) at step "
        f"{best['step']}; test accuracy {report.accuracy:.3f}, macro F1 "
        f"{report.macro_f1:.3f}; {step} steps"
        + (f", {results['ms_per_step']:.1f} ms/step" if step_times else "")
        + f" -> {out / 'results.json'}"
    )
    return results, clf


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        finetune(args)
    except (CheckpointError, ValueError) as e:
        sys.exit(f"error: {e}")
