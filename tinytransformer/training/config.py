"""The settings of a run, typed and checked in one place: one frozen dataclass per kind of run.

    config = PretrainConfig(max_iters=500, learning_rate=3e-4)  # every other field its default
    run, losses = pretrain(config, "out")                       # training/pretrain.py
    longer = config.replace(max_iters=1000)                      # a new config, checked again

Each field is declared with `setting(default, help, check)`: its default, one line of help and
its check (a count, a number in a range, one of some names, ...). Every field is checked when a
config is made, and a bad value raises ConfigError naming the field, e.g. `learning_rate:
expected a finite number > 0.0, got -1.0`. The command line builds its flags from these fields
(commands/args.py) and turns a field's error back into the flag the user typed
(`--learning-rate`), so a setting's name, default, help and check are written once, here.

A config is saved in every checkpoint as plain JSON (`to_dict`) and read back with `from_dict`,
which gives each field an older checkpoint lacks its default.

    RunConfig        the training loop's settings (AdamW, the schedule, evaluation, the seed)
    PretrainConfig   + the corpus, the tokenizer, the model's kind and size
    FinetuneConfig   + the backbone, which blocks train, pooling, the task's size
"""

import dataclasses
from dataclasses import dataclass

from tinytransformer.checks import check_count, check_number
from tinytransformer.models.config import PRESETS
from tinytransformer.models.kinds import MODEL_KINDS
from tinytransformer.training.optimizer import AdamW
from tinytransformer.training.schedule import Schedule


class ConfigError(ValueError):
    """A setting with a bad value; `field` is the setting's name, `problem` what is wrong."""

    def __init__(self, field, problem):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


# --- what a setting may hold: each check returns the value, normalised (np.int64(3) -> 3) ---------


@dataclass(frozen=True)
class Count:
    """A whole number >= low (None too, when optional)."""

    low: int = 0
    optional: bool = False

    def __call__(self, name, value):
        return check_count(name, value, self.low, allow_none=self.optional)


@dataclass(frozen=True)
class Number:
    """A finite number, low <= x, above < x, x < below, as given (None too, when optional)."""

    low: float = None
    above: float = None
    below: float = None
    optional: bool = False

    def __call__(self, name, value):
        limits = dict(above=self.above, below=self.below, allow_none=self.optional)
        return check_number(name, value, self.low, **limits)


@dataclass(frozen=True)
class Choice:
    """One of some names (None too, when optional)."""

    options: tuple
    optional: bool = False

    def __call__(self, name, value):
        if value is None and self.optional:
            return None
        if value not in self.options:
            raise ValueError(f"{name}: expected one of {', '.join(self.options)}, got {value!r}")
        return value


@dataclass(frozen=True)
class Text:
    """A string: a corpus name, a file path (None too, when optional)."""

    optional: bool = False

    def __call__(self, name, value):
        if value is None and self.optional:
            return None
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
        return value


@dataclass(frozen=True)
class Flag:
    """True or False (None too, when optional)."""

    optional: bool = False

    def __call__(self, name, value):
        if value is None and self.optional:
            return None
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected True or False, got {value!r}")
        return value


SIZE = Count(1, optional=True)  # a size or count that may be left out (None: a default rule)


def setting(default, help, check):
    """A config field: its default, one line of help (the flag's), and its check."""
    return dataclasses.field(default=default, metadata={"help": help, "check": check})


def default_for(config_class, name, default):
    """The field `name` of config_class with another default (fine-tuning's, say)."""
    meta = config_class.__dataclass_fields__[name].metadata
    return setting(default, meta["help"], meta["check"])


# --- the configs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """The training loop's settings, shared by pretraining and fine-tuning (nanoGPT's names and
    the `train` command's defaults)."""

    batch_size: int = setting(12, "sequences per step", Count(1))
    max_iters: int = setting(2000, "training steps (0: only evaluate)", Count(0))
    learning_rate: float = setting(1e-3, "AdamW's peak learning rate", Number(above=0.0))
    min_lr: float = setting(
        1e-4,
        "the floor of the cosine decay, reached at lr_decay_iters (none: learning_rate, "
        "i.e. one constant rate)",
        Number(low=0.0, optional=True),
    )
    warmup_iters: int = setting(100, "steps of linear warm-up of the rate", Count(0))
    lr_decay_iters: int = setting(None, "the step the decay ends at (none: max_iters)", SIZE)
    weight_decay: float = setting(0.1, "AdamW's decoupled decay, on matrices only", Number(0.0))
    beta1: float = setting(
        0.9, "AdamW's decay rate of the mean of the gradient", Number(0.0, below=1.0)
    )
    beta2: float = setting(
        0.99, "AdamW's decay rate of the mean of its square", Number(0.0, below=1.0)
    )
    grad_clip: float = setting(
        1.0, "the largest global gradient norm (0: no clipping)", Number(0.0)
    )
    eval_interval: int = setting(250, "steps between evaluations", Count(1))
    patience: int = setting(
        None,
        "stop after this many evaluations without a better val loss (none: never)",
        SIZE,
    )
    dropout: float = setting(0.0, "dropout probability in training", Number(0.0, below=1.0))
    seed: int = setting(1337, "initialisation, batches and dropout", Count(0))

    def __post_init__(self):
        for field in dataclasses.fields(self):
            try:
                value = field.metadata["check"](field.name, getattr(self, field.name))
            except (TypeError, ValueError) as e:
                raise ConfigError(field.name, str(e).removeprefix(f"{field.name}: ")) from None
            object.__setattr__(self, field.name, value)  # normalised: 3 -> 3.0 for a number
        if self.min_lr is not None and self.min_lr > self.learning_rate:
            raise ConfigError(
                "min_lr",
                f"expected at most learning_rate ({self.learning_rate}), the rate it decays "
                f"from, got {self.min_lr}",
            )

    def make_optimizer(self, model):
        """The run's AdamW over the model's trainable parameters."""
        betas = (self.beta1, self.beta2)
        return AdamW(model, self.learning_rate, betas=betas, weight_decay=self.weight_decay)

    def make_schedule(self):
        """The run's learning rate at each step (warm-up, then cosine decay to min_lr)."""
        return Schedule(
            self.learning_rate, self.min_lr, self.warmup_iters, self.max_iters, self.lr_decay_iters
        )

    def replace(self, **changes):
        """A copy with some fields changed, checked like a new config."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(unknown[0], f"not a setting of {type(self).__name__}")
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """The settings as a plain dict (JSON-able), as a checkpoint saves them."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, saved):
        """A config from to_dict's dict; a field it lacks (an older checkpoint) takes its
        default, and a name that is no field is a ConfigError."""
        if not isinstance(saved, dict):
            raise ConfigError("config", f"expected a JSON object, got {type(saved).__name__}")
        unknown = sorted(set(saved) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(unknown[0], f"not a setting of {cls.__name__}")
        return cls(**saved)


@dataclass(frozen=True)
class PretrainConfig(RunConfig):
    """A pretraining run: the corpus, its tokenizer, the model (its kind and size), and the
    training loop. None for a size means the preset's; for the tokenizer, char (or, with
    init_from, the checkpoint's)."""

    data: str = setting(
        "python-docs",
        "python-docs (embedded), python-docs-pretrain (without the fine-tuning task's val/test "
        "text), python-docs-stdlib-pretrain (that + the stdlib's docstrings), shakespeare "
        "(downloaded once), or a text file path",
        Text(),
    )
    tokenizer: str = setting(
        None,
        "char (characters) or bpe (byte-level BPE); none: char, or with init_from the checkpoint's",
        Choice(("char", "bpe"), optional=True),
    )
    vocab_size: int = setting(None, "BPE vocabulary size (none: 512)", SIZE)
    model: str = setting(
        "gpt",
        "gpt (causal, next-token prediction) or mlm (a masked-LM encoder)",
        Choice(tuple(MODEL_KINDS)),
    )
    preset: str = setting(
        "small", "the model's sizes; the size settings override", Choice(tuple(sorted(PRESETS)))
    )
    n_layer: int = setting(None, "blocks (none: the preset's)", SIZE)
    n_head: int = setting(None, "attention heads per block (none: the preset's)", SIZE)
    n_embd: int = setting(None, "channels C (none: the preset's)", SIZE)
    block_size: int = setting(None, "the longest sequence T (none: the preset's)", SIZE)
    bias: bool = setting(
        None,
        "biases in linear layers and layer norms (none: yes, as GPT-2; with init_from, as the "
        "checkpoint)",
        Flag(optional=True),
    )
    eval_iters: int = setting(50, "batches per split in each evaluation", Count(1))
    init_from: str = setting(
        None, "start from this checkpoint's weights (a new run)", Text(optional=True)
    )

    def __post_init__(self):
        super().__post_init__()
        if self.tokenizer in (None, "char") and self.vocab_size is not None and not self.init_from:
            raise ConfigError(
                "vocab_size",
                "the char tokenizer's vocabulary is the text's alphabet; expected none, got "
                f"{self.vocab_size} (use tokenizer bpe to choose a size)",
            )

    def sizes(self):
        """The model's sizes: the preset, overridden by any size given."""
        sizes = dict(PRESETS[self.preset])
        for name in ("n_layer", "n_head", "n_embd", "block_size"):
            if getattr(self, name) is not None:
                sizes[name] = getattr(self, name)
        sizes.pop("vocab_size", None)  # the tokenizer decides it
        return sizes


@dataclass(frozen=True)
class FinetuneConfig(RunConfig):
    """A fine-tuning run on the topic task: the backbone (a checkpoint, or a new model from
    scratch), which of its blocks train, how the head reads it, and the training loop with
    fine-tuning's defaults: a smaller rate, constant (no warm-up, no decay), lighter weight decay,
    frequent evaluation and early stopping."""

    init_from: str = setting(
        None, "pretrained checkpoint (none: from scratch)", Text(optional=True)
    )
    model: str = setting(
        None,
        "from scratch: the backbone's kind, gpt or mlm (none: mlm); with init_from, must match",
        Choice(tuple(MODEL_KINDS), optional=True),
    )
    scratch: bool = setting(
        False,
        "with init_from: take the checkpoint's config and tokenizer but not its weights (the "
        "from-scratch baseline that differs from fine-tuning only in the weights)",
        Flag(),
    )
    preset: str = setting("small", "from scratch only: the sizes", Choice(tuple(sorted(PRESETS))))
    block_size: int = setting(None, "from scratch only (none: the preset's)", SIZE)
    trainable_blocks: int = setting(
        None,
        "train only the last k blocks and the head (0: the head alone; none: everything)",
        Count(0, optional=True),
    )
    head_warmup: int = setting(
        0,
        "train the head alone for this many steps first, then the blocks too (linear probing, "
        "then fine-tuning)",
        Count(0),
    )
    pooling: str = setting(
        None,
        "the hidden state the head reads: cls, mean or last (none: last for a GPT, cls for an "
        "encoder)",
        Choice(("cls", "mean", "last"), optional=True),
    )
    train_per_class: int = setting(
        None, "labelled training paragraphs per class (none: the task's 75)", SIZE
    )
    batch_size: int = default_for(RunConfig, "batch_size", 16)
    max_iters: int = default_for(RunConfig, "max_iters", 600)
    learning_rate: float = default_for(RunConfig, "learning_rate", 3e-4)
    min_lr: float = default_for(RunConfig, "min_lr", None)
    warmup_iters: int = default_for(RunConfig, "warmup_iters", 0)
    weight_decay: float = default_for(RunConfig, "weight_decay", 0.01)
    eval_interval: int = default_for(RunConfig, "eval_interval", 20)
    patience: int = default_for(RunConfig, "patience", 8)
    dropout: float = default_for(RunConfig, "dropout", 0.1)
    seed: int = default_for(RunConfig, "seed", 0)
