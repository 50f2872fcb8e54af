"""Pretraining: a run of the one training loop (loop.py) on a text corpus, with everything that
makes a run a run: its model, tokenizer and data, evaluation of the train and val loss,
metrics.jsonl and loss.png, checkpoints (ckpt.npz, the latest; best.npz, the best validation
loss), Ctrl-C saving a checkpoint before it exits, and resume continuing a run so exactly that
its losses equal those of a run that was never stopped.

    run, losses = pretrain(PretrainConfig(max_iters=500), "out")   # a new run in out/
    run, losses = resume("out", max_iters=1000)                    # the same run, 500 steps more
    -> out/ckpt.npz, out/best.npz, out/metrics.jsonl, out/loss.png

The settings are a PretrainConfig (config.py), saved in every checkpoint; the command line
(commands/train.py) builds one from its flags and calls these two functions, as a notebook can.
Nothing here prints: messages go to `log`, and the progress bar is the caller's (`progress`).
"""

import dataclasses
import math
import secrets
import time
from pathlib import Path

import numpy as np

from tinytransformer.files import write_atomic
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.kinds import MODEL_KINDS, kind_of
from tinytransformer.models.memory import check_fits
from tinytransformer.plots import plot_losses, png_bytes
from tinytransformer.text.dataset import prepare_data
from tinytransformer.text.masking import mlm_batch
from tinytransformer.training.checkpoint import (
    CheckpointError,
    check_sizes,
    load_backbone,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from tinytransformer.training.config import ConfigError, PretrainConfig
from tinytransformer.training.loop import (
    BestWeights,
    SilentProgress,
    StopFlag,
    TrainingError,
    fit,
    mean_loss,
)
from tinytransformer.training.metrics import MetricsError, append_row, read_metrics, rewrite_rows
from tinytransformer.training.rundir import prepare_run_dir, writing_run

RUN_FILES = ("ckpt.npz", "best.npz", "metrics.jsonl", "loss.png")  # what a run writes in out/
SIZES = ("n_layer", "n_head", "n_embd", "block_size", "bias")  # the model's, fixed by its weights
# settings that make the run what it is: a resumed run keeps them (the model's sizes too)
IDENTITY = ("data", "tokenizer", "vocab_size", "model", "preset", "init_from")


# --- one stage per function ------------------------------------------------------------------


def make_batch(run, split, rng):
    """-> a Batch (B, T) for the kind of model being trained.

    gpt: targets are the inputs shifted by one (predict the next token).
    mlm: 15% of the tokens are hidden and are the only targets (predict the hidden token).
    """
    B, T = run.config.batch_size, run.model.config.block_size
    if run.config.model == "mlm":
        return mlm_batch(run.data, split, B, T, rng, run.tokenizer)
    return run.data.get_batch(split, B, T, rng)


def estimate_loss(run, step):
    """Mean loss over eval_iters batches of each split -> {"train_loss", "val_loss"}. The batches
    come from a generator seeded by (seed, step), so evaluation draws nothing from the training
    generators: a resumed run sees the same batches as an uninterrupted one."""
    out = {}
    for i, split in enumerate(("train", "val")):
        rng = np.random.default_rng([run.config.seed, step, i])
        batches = [make_batch(run, split, rng) for _ in range(run.config.eval_iters)]
        out[f"{split}_loss"] = mean_loss(run.model, batches)
    return out


# --- setting up a run ------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    config: PretrainConfig
    model: object
    tokenizer: object
    data: object
    optimizer: object
    data_rng: np.random.Generator
    step: int = 0
    run_id: str = dataclasses.field(default_factory=lambda: secrets.token_hex(8))  # its identity
    ended: str = ""  # how the loop ended: "done", "early stop" or "stopped" (loop.LoopResult)
    signum: int = None  # the signal that stopped it (SIGINT, SIGTERM), if one did
    best: BestWeights = dataclasses.field(default_factory=BestWeights)


def new_run(config):
    """Model, tokenizer, data and optimizer of a new run (from random weights, or from
    config.init_from's); reads files, writes none."""
    ckpt = None
    if config.init_from:
        if config.vocab_size is not None:
            raise ConfigError(
                "vocab_size", "a run started with init_from keeps its checkpoint's tokenizer"
            )
        sizes = {n: getattr(config, n) for n in SIZES}
        ckpt = load_backbone(config.init_from, config.model, config.dropout, sizes)
        if config.tokenizer not in (None, ckpt.tokenizer.kind):
            raise ConfigError(
                "tokenizer",
                f"a run started with init_from keeps its checkpoint's tokenizer "
                f"({ckpt.tokenizer.kind}), got {config.tokenizer}",
            )
    tokenizer, data = prepare_data(
        config.data,
        config.tokenizer or "char",
        config.vocab_size,
        tokenizer=None if ckpt is None else ckpt.tokenizer,
    )
    # recorded as resolved, so that a resumed run compares what it was trained with
    config = config.replace(tokenizer=tokenizer.kind)
    if ckpt is None:
        model_config = GPTConfig(
            vocab_size=tokenizer.vocab_size,
            **config.sizes(),
            dropout=config.dropout,
            bias=True if config.bias is None else config.bias,
        )
        check_fits(model_config, config.batch_size)  # before the weights are allocated
        model = MODEL_KINDS[config.model](model_config, seed=config.seed)
    else:
        model = ckpt.model
        check_fits(model.config, config.batch_size, model.dtype)
    return _run(config, model, tokenizer, data)


def resumed_run(out, changes):
    """The run saved in out/ckpt.npz with its optimizer, generators and step, and with the
    settings `changes` makes (those that do not change what the run is: max_iters to train
    longer, weight_decay, ...); reads files, writes none."""
    path = Path(out) / "ckpt.npz"
    ckpt = load_checkpoint(path)
    saved = saved_config(ckpt)
    for name in IDENTITY:
        if name in changes and changes[name] != getattr(saved, name):
            raise ConfigError(
                name,
                f"{changes[name]} does not match the run being resumed ({path}), which has "
                f"{getattr(saved, name)}",
            )
    config = saved.replace(**changes)
    if kind_of(ckpt.model) != config.model:
        raise CheckpointError(
            f"{path}: holds a model of kind {kind_of(ckpt.model)}, but its saved settings say "
            f"{config.model}; it cannot be resumed as it was trained"
        )
    check_sizes({n: changes.get(n) for n in SIZES}, ckpt.model.config, path)
    if "data" not in ckpt.rng_states:
        raise CheckpointError(f"{path}: holds no data-order state, so it cannot be resumed")
    model = ckpt.model
    model.config = dataclasses.replace(model.config, dropout=config.dropout)  # re-checked
    tokenizer, data = prepare_data(config.data, tokenizer=ckpt.tokenizer)
    run = _run(config, model, tokenizer, data)
    run.optimizer.load_state_dict(ckpt.optim_state)  # the moments and the step count
    run.data_rng.bit_generator.state = ckpt.rng_states["data"]
    run.step = ckpt.step
    run.best = BestWeights(ckpt.meta["extra"].get("best_val", math.inf))
    # a checkpoint older than run ids continues under a new one (its rows and best.npz have none)
    run.run_id = ckpt.meta["extra"].get("run_id") or run.run_id
    best = Path(out) / "best.npz"
    if best.is_file():
        theirs = read_meta(best).get("extra", {}).get("run_id")
        if theirs not in (None, run.run_id):
            raise CheckpointError(
                f"{path}: belongs to another run than {best} beside it (run {run.run_id}, not "
                f"{theirs}); was it copied in from another run's folder? Resume a run in its "
                "own folder, or start a new one from this checkpoint with init_from"
            )
    return run


def _run(config, model, tokenizer, data):
    """A Run at step 0, its optimizer from the settings, after the last check: a block must hold
    a window plus its next token in both splits."""
    for split, ids in (("train", data.train_ids), ("val", data.val_ids)):
        if len(ids) < model.config.block_size + 1:
            raise ConfigError(
                "data",
                f"the {split} split of {config.data} has {len(ids)} tokens, fewer than "
                f"block_size + 1 = {model.config.block_size + 1}; use a longer text or a "
                "smaller block_size",
            )
    data_rng = np.random.default_rng([config.seed, 0])
    return Run(config, model, tokenizer, data, config.make_optimizer(model), data_rng)


def saved_config(ckpt):
    """The PretrainConfig a checkpoint was trained with; checkpoints written before
    training/config.py saved their command-line flags instead ("args"), read here too."""
    extra = ckpt.meta.get("extra", {})
    try:
        if "config" in extra:
            return PretrainConfig.from_dict(extra["config"])
        if extra.get("args"):
            return PretrainConfig.from_dict(_settings_of_old_flags(extra["args"]))
    except ConfigError as e:
        raise CheckpointError(f"{ckpt.path}: its saved settings: {e}") from None
    raise CheckpointError(
        f"{ckpt.path}: holds no training settings (it was saved without extra=..., e.g. by "
        "save_checkpoint from Python), so its run cannot be resumed; start a new run from its "
        "weights with init_from"
    )


def _settings_of_old_flags(args):
    """The flags an older checkpoint saved -> PretrainConfig fields: --objective clm/mlm is now
    model gpt/mlm, and the command line's own flags (--out, --quiet, ...) are no settings."""
    settings = {k: v for k, v in args.items() if k not in _COMMAND_LINE_ONLY}
    objective = settings.pop("objective", None)
    if objective is not None:
        settings["model"] = {"clm": "gpt", "mlm": "mlm"}.get(objective, objective)
    return settings


_COMMAND_LINE_ONLY = ("out", "resume", "overwrite", "quiet", "sample_tokens")


def save(run, path):
    extra = {"config": run.config.to_dict(), "best_val": run.best.val_loss, "run_id": run.run_id}
    save_checkpoint(
        path,
        run.model,
        run.tokenizer,
        run.optimizer,
        run.step,
        rngs={"data": run.data_rng},
        extra=extra,
    )


def _metrics_so_far(path, run, log):
    """The rows of the run's earlier evaluations, dropping any at or after its step (a resumed
    run evaluates those again) and a torn last line (a write cut short), which `log` hears
    about. A broken line anywhere else, or a row of another run, is an error naming the file."""
    if not path.is_file():
        return []
    try:
        rows, torn = read_metrics(path, allow_torn_tail=True)
    except MetricsError as e:
        raise TrainingError(f"{e}; fix or delete the line, then resume again") from None
    if torn:
        log(f"note: dropped the unfinished last line of {path} ({torn} bytes), left by a crash")
    others = {r["run"] for r in rows if r.get("run") not in (None, run.run_id)}
    if others:
        raise TrainingError(
            f"{path}: holds rows of another run ({sorted(others)[0]}) than the checkpoint being "
            f"resumed (run {run.run_id}); resume a run in its own folder"
        )
    return [r for r in rows if r["step"] < run.step]


# --- the run ------------------------------------------------------------------------------------


def pretrain(config, out, *, overwrite=False, stop_after=None, log=None, progress=None):
    """A new run as `config` (a PretrainConfig) says, written to `out` -> (run, losses), with
    losses[k] the training loss of step k.

    overwrite: replace a run already in `out` (without it, such a folder is refused).
    stop_after: stop (as Ctrl-C would) once this many steps are done; for tests of resume.
    log: a function of one str for messages (default: silent). progress: a tqdm-like factory,
        progress(total=, initial=) -> a bar with update(), set_postfix(), write() and close().
    """
    if not isinstance(config, PretrainConfig):
        raise TypeError(f"config: expected a PretrainConfig, got {type(config).__name__}")
    log = log or (lambda message: None)
    # everything is checked, and every file read, before the first file is written
    replaced = prepare_run_dir(out, RUN_FILES, overwrite=overwrite)
    run = new_run(config)
    with writing_run(out, replaced, log) as folder:
        return _train(run, folder, False, stop_after, log, progress)


def resume(out, changes=None, *, stop_after=None, log=None, progress=None, **more_changes):
    """Continue the run in `out` exactly where its ckpt.npz left it -> (run, losses of the steps
    taken now). changes (or keyword arguments): settings to change, say max_iters=1000 to train
    longer; those that make the run what it is (its data, tokenizer, model) are refused."""
    changes = {**(changes or {}), **more_changes}
    log = log or (lambda message: None)
    prepare_run_dir(out, RUN_FILES, resume=True)
    run = resumed_run(out, changes)
    with writing_run(out, [], log) as folder:
        return _train(run, folder, True, stop_after, log, progress)


def _train(run, out, resumed, stop_after, log, progress):
    """The run proper, once its directory is checked and locked."""
    config, model, data, opt = run.config, run.model, run.data, run.optimizer
    metrics_path = out / "metrics.jsonl"
    metrics = _metrics_so_far(metrics_path, run, log)
    rewrite_rows(metrics_path, metrics)  # without the rows dropped, atomically
    schedule = config.make_schedule()
    if schedule.note:
        log(f"note: {schedule.note}")
    log(
        f"{type(model).__name__} {model.config}\n{model.num_parameters():,} parameters | "
        f"{config.data}: {len(data.train_ids):,} train / {len(data.val_ids):,} val tokens | "
        f"vocab {run.tokenizer.vocab_size} | "
        + (f"resuming at step {run.step}" if resumed else "new run")
    )
    bar = (progress or SilentProgress)(total=config.max_iters, initial=run.step)
    t_start, speed = time.perf_counter(), {"tokens_per_s": 0.0}

    def on_eval(step, ev, improved):
        row = {
            "run": run.run_id,
            "step": step,
            "train_loss": ev["train_loss"],
            "val_loss": ev["val_loss"],
            "lr": opt.lr,
            "elapsed_s": round(time.perf_counter() - t_start, 3),
            "tokens_per_s": round(speed["tokens_per_s"]),
        }
        metrics.append(row)
        append_row(metrics_path, row)  # appended and flushed: a crash loses no row
        write_atomic(out / "loss.png", png_bytes(plot_losses(metrics)))  # whole or not at all
        bar.write(f"step {step}: train loss {ev['train_loss']:.4f}, val loss {ev['val_loss']:.4f}")
        if improved:
            save(run, out / "best.npz")
        save(run, out / "ckpt.npz")

    def on_step(step, loss, lr, seconds):
        run.step = step
        tokens = config.batch_size * model.config.block_size
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
                max_iters=config.max_iters,
                eval_interval=config.eval_interval,
                grad_clip=config.grad_clip,
                patience=config.patience,
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
                "learning_rate or a grad_clip."
            ) from None
    bar.close()
    run.ended, run.signum = result.ended, flag.signum
    if result.ended == "early stop":
        log(f"early stop at step {run.step}: no better val loss for {config.patience} evaluations")
    if result.ended == "stopped":
        save(run, out / "ckpt.npz")
        log(f"stopped at step {run.step}; checkpoint saved to {out / 'ckpt.npz'}")
        return run, result.losses
    log(
        f"done: {run.step} steps in {time.perf_counter() - t_start:.1f} s, "
        f"best val loss {run.best.val_loss:.4f} (checkpoint {out / 'best.npz'})"
    )
    return run, result.losses
