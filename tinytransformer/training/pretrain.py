"""Pretraining: a run of the one training loop (loop.py) on a text corpus, with everything that
makes a run a run: its model, tokenizer and data, evaluation of the train and val loss,
metrics.jsonl and loss.png, checkpoints (ckpt.npz, the latest; best.npz, the best validation
loss), Ctrl-C saving a checkpoint before it exits, and --resume continuing a run so exactly that
its losses equal those of a run that was never stopped.

    run = setup(args, given)                   # model, tokenizer, data, AdamW (new or resumed)
    fit(run.model, run.optimizer, batches, evaluate, schedule, ...)   # the loop
    -> OUT/ckpt.npz, OUT/best.npz, OUT/metrics.jsonl, OUT/loss.png

`args` holds the run's settings under the names of the `train` command's flags (commands/train.py
parses them; nanoGPT's config keys). Nothing here prints: messages go to `log`, and the progress
bar is the caller's (`progress`).
"""

import dataclasses
import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tinytransformer.files import write_atomic
from tinytransformer.models.config import PRESETS, GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.memory import check_fits
from tinytransformer.models.transformer import MaskedLM, evaluating
from tinytransformer.plots import plot_losses, read_metrics
from tinytransformer.text.dataset import prepare_data
from tinytransformer.text.masking import mlm_batch
from tinytransformer.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinytransformer.training.loop import BestWeights, SilentProgress, StopFlag, TrainingError, fit
from tinytransformer.training.optimizer import AdamW
from tinytransformer.training.rundir import prepare_run_dir, writing_run
from tinytransformer.training.schedule import Schedule
from tinytransformer.training.settings import check_training_settings, flag

MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "bias")  # fixed by a checkpoint
OBJECTIVES = {"clm": GPT, "mlm": MaskedLM}  # the objective decides the model
DATA_FLAGS = ("data", "tokenizer", "vocab_size", "objective")  # fixed by a resumed run


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
    """Mean loss over eval_iters batches of each split -> {"train_loss", "val_loss"}. The batches
    come from a generator seeded by (seed, step), so evaluation draws nothing from the training
    generators: a resumed run sees the same batches as an uninterrupted one."""
    out = {}
    with evaluating(run.model):
        for i, split in enumerate(("train", "val")):
            rng = np.random.default_rng([run.args.seed, step, i])
            losses = []
            for _ in range(run.args.eval_iters):
                idx, targets, mask = make_batch(run, split, rng)
                losses.append(float(run.model(idx, targets, attention_mask=mask)[1]))
            out[f"{split}_loss"] = float(np.mean(losses))
    return out


# --- setting up a run ------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    args: SimpleNamespace  # the run settings, named like the train flags
    model: object
    tokenizer: object
    data: object
    optimizer: AdamW
    data_rng: np.random.Generator
    step: int = 0
    ended: str = ""  # how the loop ended: "done", "early stop" or "stopped" (loop.LoopResult)
    signum: int = None  # the signal that stopped it (SIGINT, SIGTERM), if one did
    best: BestWeights = dataclasses.field(default_factory=BestWeights)


RUN_FILES = ("ckpt.npz", "best.npz", "metrics.jsonl", "loss.png")  # what a run writes in --out
NEW_FLAGS = {"patience": None, "overwrite": False}  # flags younger than some saved runs


def check_flag_combinations(args, given):
    """The flags as typed (`given`: the set of flags the user typed) that make no sense together,
    before anything is read or written."""
    if args.resume and args.init_from:
        raise ValueError(
            "--resume, --init-from: expected one of them (continue this run, or start a new one "
            "from another's weights), got both"
        )
    if args.init_from:  # (a resumed run refuses a changed --tokenizer in _merge_resumed_args)
        ignored = sorted({"tokenizer", "vocab_size"} & set(given))
        if ignored:
            raise ValueError(
                f"{flag(ignored[0])}: a run started with --init-from keeps its checkpoint's "
                f"tokenizer, so {flag(ignored[0])} would be ignored; leave it out"
            )


def check_settings(args):
    """Every setting of a pretraining run (settings.py), before anything is written. A resumed
    run is checked once its saved settings and the given changes are merged."""
    check_training_settings(args)
    if args.eval_iters < 1:
        raise ValueError(f"--eval-iters: expected a whole number >= 1, got {args.eval_iters}")


def _merge_resumed_args(saved, given, path):
    """A resumed run keeps its saved flags; given flags may change only what does not change the
    model or the data (say, --max-iters to train longer, or --weight-decay)."""
    if not saved:
        raise CheckpointError(
            f"{path}: holds no training arguments (it was saved without extra=..., e.g. by "
            "save_checkpoint from Python), so its run cannot be resumed; start a new run from "
            "its weights with --init-from"
        )
    args = SimpleNamespace(**{**NEW_FLAGS, **saved})
    for name, value in vars(given).items():
        if name in DATA_FLAGS + ("preset",) and value != saved.get(name):
            raise CheckpointError(
                f"{path}: {flag(name)} {value} does not match the run being resumed, which has "
                f"{name}={saved.get(name)!r}"
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
                f"{path}: {flag(name)} {given[name]} does not match the checkpoint's "
                f"{name}={getattr(config, name)}"
            )


def setup(args, given):
    """Build model, tokenizer, data and optimizer for a new, resumed or initialised run, after
    checking every setting; reads files but writes none."""
    check_flag_combinations(args, vars(given))
    out = Path(args.out)
    ckpt = None
    if args.resume:
        path = out / "ckpt.npz"
        ckpt = load_checkpoint(path)
        _check_config_against(ckpt.model.config, given, path)
        args = _merge_resumed_args(ckpt.meta.get("extra", {}).get("args", {}), given, path)
        args.out = str(out)  # the folder resumed from, wherever the run was first started
    check_settings(args)  # for a resumed run, its saved settings with the given changes
    if args.resume:
        if "data" not in ckpt.rng_states:
            raise CheckpointError(f"{path}: holds no data-order state, so it cannot be resumed")
    elif args.init_from:
        ckpt = load_checkpoint(args.init_from)
        _check_config_against(ckpt.model.config, given, args.init_from)
        if ckpt.tokenizer is None:
            raise CheckpointError(f"{args.init_from}: has no tokenizer to encode --data with")

    tokenizer, data = prepare_data(
        args.data,
        args.tokenizer,
        args.vocab_size,
        tokenizer=None if ckpt is None else ckpt.tokenizer,
    )
    model_class = OBJECTIVES[args.objective]
    if ckpt is not None and not isinstance(ckpt.model, model_class):
        raise CheckpointError(
            f"{ckpt.path}: holds a {type(ckpt.model).__name__}, but --objective "
            f"{args.objective} trains a {model_class.__name__}"
        )
    if ckpt is None:
        config, dtype = config_from_args(args, tokenizer.vocab_size), np.float32
    else:  # the checkpoint's model, with this run's dropout (re-checked by the config)
        config = dataclasses.replace(ckpt.model.config, dropout=args.dropout)
        dtype = ckpt.model.dtype
    check_fits(config, args.batch_size, dtype)  # before a new model's weights are allocated
    if ckpt is None:
        model = model_class(config, seed=args.seed)
    else:
        model = ckpt.model
        model.config = config
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
        # the moments and the step count continue; the hyperparameters are this run's flags,
        # which are the saved ones unless the user changed them (and the checkpoint says so)
        optimizer.beta1, optimizer.beta2 = args.beta1, args.beta2
        optimizer.weight_decay = args.weight_decay
        data_rng.bit_generator.state = ckpt.rng_states["data"]
        run.step = ckpt.step
        run.best = BestWeights(ckpt.meta["extra"].get("best_val", math.inf))
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
    extra = {"args": vars(run.args), "best_val": run.best.val_loss}
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
    evaluates those again). A broken line is an error naming the file and the line."""
    if not path.is_file():
        return []
    try:
        rows = read_metrics(path)
    except ValueError as e:
        raise TrainingError(f"{e}; fix or delete the line, then --resume again") from None
    return [r for r in rows if r.get("step", math.inf) < before_step]


# --- the run ------------------------------------------------------------------------------------


def pretrain(args, given=None, stop_after=None, log=None, progress=None):
    """Train as `args` says; returns (run, losses) with losses[k] the training loss of step k.

    given: the flags the user actually gave (a dict); a resumed run takes those over its saved
        ones (say, --max-iters to train longer) and refuses any that would change the model.
    stop_after: stop (as Ctrl-C would) once this many steps are done; for tests of --resume.
    log: a function of one str for messages (default: silent). progress: a tqdm-like factory,
        progress(total=, initial=) -> a bar with update(), set_postfix(), write() and close().
    """
    log = log or (lambda message: None)
    # everything is checked, and every file read, before the first file is written
    overwrite = getattr(args, "overwrite", False)
    replaced = prepare_run_dir(args.out, RUN_FILES, resume=args.resume, overwrite=overwrite)
    run = setup(args, SimpleNamespace(**(given or {})))
    with writing_run(run.args.out, replaced, log) as out:
        return _train(run, out, stop_after, log, progress)


def _train(run, out, stop_after, log, progress):
    """The run proper, once its directory is checked and locked."""
    args, model, data, opt = run.args, run.model, run.data, run.optimizer
    metrics_path = out / "metrics.jsonl"
    metrics = _read_metrics(metrics_path, run.step)
    write_atomic(metrics_path, "".join(json.dumps(m) + "\n" for m in metrics).encode())
    schedule = Schedule(
        args.learning_rate, args.min_lr, args.warmup_iters, args.max_iters, args.lr_decay_iters
    )
    if schedule.note:
        log(f"note: {schedule.note}")
    log(
        f"{type(model).__name__} {model.config}\n{model.num_parameters():,} parameters | "
        f"{args.data}: {len(data.train_ids):,} train / {len(data.val_ids):,} val tokens | "
        f"vocab {run.tokenizer.vocab_size} | "
        + (f"resuming at step {run.step}" if args.resume else "new run")
    )
    bar = (progress or SilentProgress)(total=args.max_iters, initial=run.step)
    t_start, speed = time.perf_counter(), {"tokens_per_s": 0.0}

    def on_eval(step, ev, improved):
        row = {
            "step": step,
            "train_loss": ev["train_loss"],
            "val_loss": ev["val_loss"],
            "lr": opt.lr,
            "elapsed_s": round(time.perf_counter() - t_start, 3),
            "tokens_per_s": round(speed["tokens_per_s"]),
        }
        metrics.append(row)
        with open(metrics_path, "a") as f:  # appended and flushed: a crash loses no row
            f.write(json.dumps(row) + "\n")
            f.flush()
        plot_losses(metrics).savefig(out / "loss.png", dpi=100)
        bar.write(f"step {step}: train loss {ev['train_loss']:.4f}, val loss {ev['val_loss']:.4f}")
        if improved:
            save(run, "best.npz")
        save(run, "ckpt.npz")

    def on_step(step, loss, lr, seconds):
        run.step = step
        tokens = args.batch_size * model.config.block_size
        old = speed["tokens_per_s"]
        speed["tokens_per_s"] = 0.9 * old + 0.1 * tokens / seconds if old else tokens / seconds
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.1e}", tok_s=f"{speed['tokens_per_s']:,.0f}")

    def should_stop(step):
        return flag.is_set() or (stop_after is not None and step >= stop_after)

    with StopFlag(log) as flag:
        try:
            result = fit(
                model,
                opt,
                lambda: make_batch(run, "train", run.data_rng),
                lambda step: estimate_loss(run, step),
                schedule,
                max_iters=args.max_iters,
                eval_interval=args.eval_interval,
                grad_clip=args.grad_clip,
                patience=args.patience,
                step=run.step,
                best=run.best,
                keep_best_weights=False,  # the best weights are kept on disk, in best.npz
                on_eval=on_eval,
                on_step=on_step,
                should_stop=should_stop,
            )
        except TrainingError as e:
            bar.close()
            raise TrainingError(
                f"{e}, stopping. The last good checkpoint is {out / 'ckpt.npz'}; try a lower "
                "--learning-rate or a --grad-clip."
            ) from None
    bar.close()
    run.ended, run.signum = result.ended, flag.signum
    if result.ended == "early stop":
        log(f"early stop at step {run.step}: no better val loss for {args.patience} evaluations")
    if result.ended == "stopped":
        save(run, "ckpt.npz")
        log(f"stopped at step {run.step}; checkpoint saved to {out / 'ckpt.npz'}")
        return run, result.losses
    log(
        f"done: {run.step} steps in {time.perf_counter() - t_start:.1f} s, "
        f"best val loss {run.best.val_loss:.4f} (checkpoint {out / 'best.npz'})"
    )
    return run, result.losses
