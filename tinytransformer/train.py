"""Training: `python -m tinytransformer train`.

The loop reads like the data flow:

    x, y = get_batch("train")          # tokenize -> batch
    logits, loss = model(x, y)         # forward -> loss
    model.backward()                   # backward
    clip_grad_norm(model, grad_clip)   # keep one bad batch from throwing the weights far
    opt.step()                         # AdamW, with the warmup + cosine learning rate

Around it: a progress bar, evaluation of train and val loss every eval_interval steps (written
to metrics.jsonl and plotted to loss.png), checkpoints (ckpt.npz, the latest; best.npz, the best
validation loss), Ctrl-C saving a checkpoint before exiting, and --resume continuing a run so
exactly that its losses equal those of a run that was never stopped.
Flags are named after nanoGPT's config keys.
"""

import argparse
import dataclasses
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from tinytransformer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinytransformer.checks import non_negative_int, positive_int
from tinytransformer.data import prepare_data
from tinytransformer.mlm import MaskedLM, mlm_batch
from tinytransformer.model import GPT, PRESETS, GPTConfig, evaluating
from tinytransformer.optim import AdamW, clip_grad_norm, get_lr

MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "bias")  # fixed by a checkpoint
OBJECTIVES = {"clm": GPT, "mlm": MaskedLM}  # the objective decides the model
DATA_FLAGS = ("data", "tokenizer", "vocab_size", "objective")  # fixed by a resumed run


class TrainingError(RuntimeError):
    """The run cannot go on (a non-finite loss); the message says what was kept."""


def build_parser(suppress_defaults=False):
    """The train flags. With suppress_defaults, parsing returns only the flags actually given."""
    p = argparse.ArgumentParser(
        prog="python -m tinytransformer train",
        description="Train a small transformer on a text corpus, then print a sample.",
        argument_default=argparse.SUPPRESS if suppress_defaults else None,
    )

    def add(flag, default, **kw):
        p.add_argument(flag, **kw, **({} if suppress_defaults else {"default": default}))

    g = p.add_argument_group("data")
    add("--data", "python-docs",
        help="python-docs (embedded), python-docs-pretrain (without the fine-tuning task's "
        "val/test text), python-docs-stdlib-pretrain (that + the stdlib's docstrings), "
        "shakespeare (downloaded once), or a text file path")  # fmt: skip
    add("--tokenizer", "char", choices=("char", "bpe"))
    add("--vocab-size", None, type=positive_int, help="BPE vocabulary size (default 512)")
    add("--objective", "clm", choices=("clm", "mlm"), help="causal LM (GPT) or masked LM")
    g = p.add_argument_group("model")
    add("--preset", "small", choices=sorted(PRESETS), help="sizes; the flags below override")
    for flag in ("--n-layer", "--n-head", "--n-embd", "--block-size"):
        add(flag, None, type=positive_int)
    add("--dropout", 0.0, type=float)
    add("--bias", True, type=_bool, help="biases in linear layers and layer norms (true/false)")
    g = p.add_argument_group("optimisation")
    add("--batch-size", 12, type=positive_int)
    add("--max-iters", 2000, type=non_negative_int)
    add("--learning-rate", 1e-3, type=float)
    add("--min-lr", 1e-4, type=float)
    add("--warmup-iters", 100, type=non_negative_int)
    add("--lr-decay-iters", None, type=positive_int, help="default: max-iters")
    add("--weight-decay", 0.1, type=float)
    add("--beta1", 0.9, type=float)
    add("--beta2", 0.99, type=float)
    add("--grad-clip", 1.0, type=float, help="0 disables clipping")
    g = p.add_argument_group("evaluation and output")
    add("--eval-interval", 250, type=positive_int)
    add("--eval-iters", 50, type=positive_int, help="batches per split in each evaluation")
    add("--seed", 1337, type=int)
    add("--out", "out", help="directory for checkpoints, metrics.jsonl and loss.png")
    add("--resume", False, action="store_true", help="continue the run in --out")
    add("--init-from", None, help="start from this checkpoint's weights (a new run)")
    add("--sample-tokens", 300, type=non_negative_int, help="tokens to sample at the end (0: none)")
    add("--quiet", False, action="store_true", help="no progress bar")
    del g
    return p


def _bool(text):
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def config_from_args(args, vocab_size):
    """The model config: the preset, overridden by any size flag given."""
    sizes = dict(PRESETS[args.preset])
    for name in ("n_layer", "n_head", "n_embd", "block_size"):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    sizes["vocab_size"] = vocab_size
    return GPTConfig(**sizes, dropout=args.dropout, bias=args.bias)


# --- one stage per function ------------------------------------------------------------------


def make_batch(run, split, rng):
    """-> (idx, targets, attention_mask) (B, T) each, for the objective being trained.

    clm: targets are the inputs shifted by one (predict the next token).
    mlm: 15% of the tokens are hidden and are the only targets (predict the hidden token).
    """
    B, T = run.args.batch_size, run.model.config.block_size
    if run.args.objective == "mlm":
        return mlm_batch(run.data, split, B, T, rng, run.tokenizer)
    x, y = run.data.get_batch(split, B, T, rng)
    return x, y, None


def estimate_loss(run, step):
    """Mean loss over eval_iters batches of each split. The batches come from a generator seeded
    by (seed, step), so evaluation draws nothing from the training generators: a resumed run
    sees the same batches as an uninterrupted one."""
    out = {}
    with evaluating(run.model):
        for i, split in enumerate(("train", "val")):
            rng = np.random.default_rng([run.args.seed, step, i])
            losses = []
            for _ in range(run.args.eval_iters):
                idx, targets, mask = make_batch(run, split, rng)
                losses.append(float(run.model(idx, targets, attention_mask=mask)[1]))
            out[split] = float(np.mean(losses))
    return out


def plot_losses(metrics, path):
    """Train and val loss against step, saved as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = [m["step"] for m in metrics]
    ax.plot(steps, [m["train_loss"] for m in metrics], "o-", label="train")
    ax.plot(steps, [m["val_loss"] for m in metrics], "o-", label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (cross-entropy, nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


class _StopFlag:
    """Ctrl-C sets a flag that the loop checks between steps, so the checkpoint is saved from
    consistent weights, never from a half-applied optimizer step. A second Ctrl-C stops at once."""

    def __init__(self):
        self.stop = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        print("\nCtrl-C: saving a checkpoint after this step (again to quit at once)", flush=True)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


# --- setting up a run ------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    args: argparse.Namespace
    model: object
    tokenizer: object
    data: object
    optimizer: AdamW
    data_rng: np.random.Generator
    step: int = 0
    best_val: float = math.inf


def _merge_resumed_args(saved, given, path):
    """A resumed run keeps its saved flags; given flags may change only what does not change the
    model or the data (say, --max-iters to train longer)."""
    args = argparse.Namespace(**saved)
    for name, value in vars(given).items():
        if name in DATA_FLAGS + ("preset",) and value != saved.get(name):
            raise CheckpointError(
                f"{path}: --{name.replace('_', '-')} {value} does not match the run being "
                f"resumed, which has {name}={saved.get(name)!r}"
            )
        setattr(args, name, value)
    args.resume = True
    return args


def _check_config_against(config, given, path):
    """--resume, --init-from: any size flag given must agree with the checkpoint's config."""
    given = vars(given)
    for name in MODEL_FLAGS:
        if name in given and given[name] != getattr(config, name):
            raise CheckpointError(
                f"{path}: --{name.replace('_', '-')} {given[name]} does not match the "
                f"checkpoint's {name}={getattr(config, name)}"
            )


def setup(args, given):
    """Build model, tokenizer, data and optimizer for a new, resumed or initialised run."""
    out = Path(args.out)
    ckpt = None
    if args.resume:
        path = out / "ckpt.npz"
        ckpt = load_checkpoint(path)
        _check_config_against(ckpt.model.config, given, path)
        args = _merge_resumed_args(ckpt.meta["extra"].get("args", {}), given, path)
    elif args.init_from:
        ckpt = load_checkpoint(args.init_from)
        _check_config_against(ckpt.model.config, given, args.init_from)

    tokenizer, data = prepare_data(
        args.data,
        args.tokenizer,
        args.vocab_size,
        tokenizer=None if ckpt is None else ckpt.tokenizer,
    )
    model_class = OBJECTIVES[args.objective]
    if ckpt is None:
        model = model_class(config_from_args(args, tokenizer.vocab_size), seed=args.seed)
    elif not isinstance(ckpt.model, model_class):
        raise CheckpointError(
            f"{ckpt.path}: holds a {type(ckpt.model).__name__}, but --objective "
            f"{args.objective} trains a {model_class.__name__}"
        )
    else:
        model = ckpt.model
        model.config.dropout = args.dropout
    optimizer = AdamW(
        model,
        args.learning_rate,
        betas=(args.beta1, args.beta2),
        weight_decay=args.weight_decay,
    )
    data_rng = np.random.default_rng([args.seed, 0])
    run = Run(args, model, tokenizer, data, optimizer, data_rng)
    if args.resume:
        optimizer.load_state_dict(ckpt.optim_state)
        data_rng.bit_generator.state = ckpt.rng_states["data"]
        run.step = ckpt.step
        run.best_val = ckpt.meta["extra"].get("best_val", math.inf)
    # a block must hold a window plus its next token in both splits
    for split, ids in (("train", data.train_ids), ("val", data.val_ids)):
        if len(ids) < model.config.block_size + 1:
            raise ValueError(
                f"--data {args.data}: the {split} split has {len(ids)} tokens, fewer than "
                f"block_size + 1 = {model.config.block_size + 1}; use a longer text or a "
                "smaller --block-size"
            )
    return run


def save(run, name):
    extra = {"args": vars(run.args), "best_val": run.best_val}
    save_checkpoint(
        Path(run.args.out) / name,
        run.model,
        run.tokenizer,
        run.optimizer,
        run.step,
        rngs={"data": run.data_rng},
        extra=extra,
    )


def _read_metrics(path, before_step):
    """The metrics of earlier evaluations, dropping any at or after before_step (a resumed run
    evaluates those again)."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] < before_step]


# --- the loop --------------------------------------------------------------------------------


def train(args, given=None, stop_after=None, log=print):
    """Run training; returns (run, losses) with losses[k] the training loss of step k.

    stop_after: stop (as Ctrl-C would) once this many steps are done; for tests of --resume.
    """
    from tqdm.auto import tqdm

    given = {} if given is None else given
    run = setup(args, argparse.Namespace(**given))
    args, model, data, opt = run.args, run.model, run.data, run.optimizer
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    metrics = _read_metrics(metrics_path, run.step)
    metrics_path.write_text("".join(json.dumps(m) + "\n" for m in metrics))
    decay_iters = args.lr_decay_iters or args.max_iters
    warmup_iters = min(args.warmup_iters, decay_iters)  # a run shorter than the warmup
    if warmup_iters < args.warmup_iters:
        log(f"note: warmup shortened to {warmup_iters} steps, the length of the lr decay")
    log(
        f"{type(model).__name__} {model.config}\n{model.num_parameters():,} parameters | "
        f"{args.data}: {len(data.train_ids):,} train / {len(data.val_ids):,} val tokens | "
        f"vocab {run.tokenizer.vocab_size} | "
        + (f"resuming at step {run.step}" if args.resume else "new run")
    )
    losses = {}
    bar = tqdm(
        total=args.max_iters, initial=run.step, disable=args.quiet, unit="step", dynamic_ncols=True
    )
    t_start, tok_per_s = time.perf_counter(), 0.0
    with _StopFlag() as flag:
        while True:
            if run.step % args.eval_interval == 0 or run.step == args.max_iters:
                ev = estimate_loss(run, run.step)
                row = {
                    "step": run.step,
                    "train_loss": ev["train"],
                    "val_loss": ev["val"],
                    "lr": opt.lr,
                    "elapsed_s": round(time.perf_counter() - t_start, 3),
                    "tokens_per_s": round(tok_per_s),
                }
                metrics.append(row)
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                plot_losses(metrics, out / "loss.png")
                bar.write(
                    f"step {run.step}: train loss {ev['train']:.4f}, val loss {ev['val']:.4f}"
                )
                if ev["val"] < run.best_val:
                    run.best_val = ev["val"]
                    save(run, "best.npz")
                save(run, "ckpt.npz")
            if run.step >= args.max_iters:
                break
            if flag.stop or (stop_after is not None and run.step >= stop_after):
                save(run, "ckpt.npz")
                bar.close()
                log(f"stopped at step {run.step}; checkpoint saved to {out / 'ckpt.npz'}")
                return run, losses

            t0 = time.perf_counter()
            opt.lr = get_lr(run.step, args.learning_rate, warmup_iters, decay_iters, args.min_lr)
            idx, targets, mask = make_batch(run, "train", run.data_rng)
            model.train()
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                _, loss = model(idx, targets, attention_mask=mask)
                loss = float(loss)
                if math.isfinite(loss):
                    model.backward()
                    max_norm = args.grad_clip if args.grad_clip > 0 else None  # None: measure only
                    norm = clip_grad_norm(model, max_norm, names=opt.names)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                bar.close()
                what = f"loss {loss}" if not math.isfinite(loss) else f"gradient norm {norm}"
                raise TrainingError(
                    f"step {run.step}: {what} is not finite, stopping. The last good checkpoint "
                    f"is {out / 'ckpt.npz'}; try a lower --learning-rate or a --grad-clip."
                )
            opt.step()
            losses[run.step] = loss
            run.step += 1
            dt = time.perf_counter() - t0
            tok_per_s = 0.9 * tok_per_s + 0.1 * (idx.size / dt) if tok_per_s else idx.size / dt
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{opt.lr:.1e}", tok_s=f"{tok_per_s:,.0f}")
    bar.close()
    log(
        f"done: {run.step} steps in {time.perf_counter() - t_start:.1f} s, "
        f"best val loss {run.best_val:.4f} (checkpoint {out / 'best.npz'})"
    )
    return run, losses


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    given = vars(build_parser(suppress_defaults=True).parse_args(argv))
    try:
        run, _ = train(args, given)
    except (CheckpointError, TrainingError, ValueError, ConnectionError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    if (
        run.step >= run.args.max_iters
        and run.args.sample_tokens > 0
        and run.args.objective == "clm"
    ):
        from tinytransformer.sample import generate_text

        print("--- sample (temperature 0.8, top-k 40) ---")
        text = generate_text(
            run.model, run.tokenizer, "", run.args.sample_tokens, 0.8, 40, None, run.args.seed
        )
        print(text)
