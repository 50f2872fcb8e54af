"""tinytransformer: a small transformer language model in pure NumPy, with hand-written forward
and backward passes, written to be read.

The package is laid out as the data flows, one subpackage per stage:

    text/        corpora -> clean text -> tokenizers -> batches (and masked-LM targets)
    ops/         forward/backward pairs: embedding, linear, layer norm, GELU, dropout,
                 softmax, cross-entropy, attention
    models/      the block, the transformer trunk (GPT, MaskedLM), the classifier, generation
    training/    a run's settings, AdamW, the learning-rate schedule, the one training loop,
                 pretraining, fine-tuning, checkpoints, metrics
    evaluation/  perplexity, latency, BLEU, ROUGE, classification metrics
    exercises/   the chapters' self-checking exercises and the grader
    commands/    the command line (`python -m tinytransformer ...`)

with, at the top: the input checks (checks.py), atomic file writes (files.py), the
gradient-check toolkit (gradcheck.py) and every op pair with inputs to check it on
(op_cases.py), the shared figures (plots.py) and the notebooks' toolkit (notebook.py);
`python -m tinytransformer` runs __main__.py. Every name below is importable from
`tinytransformer` itself, listed in the order of the data flow.

Shape legend used in every comment: B batch, T time (sequence length), C channels (n_embd),
V vocabulary size, nh number of heads, hs head size (C // nh).
"""

__version__ = "0.1.0"

from tinytransformer.evaluation.bleu import corpus_bleu, sentence_bleu
from tinytransformer.evaluation.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
)
from tinytransformer.evaluation.latency import measure_latency
from tinytransformer.evaluation.perplexity import perplexity
from tinytransformer.evaluation.rouge import corpus_rouge, rouge
from tinytransformer.gradcheck import check_gradients, numerical_gradient, rel_error
from tinytransformer.models.classifier import SequenceClassifier
from tinytransformer.models.config import PRESETS, GPTConfig, TransformerConfig
from tinytransformer.models.gpt import GPT, generate_text
from tinytransformer.models.kinds import MODEL_KINDS
from tinytransformer.models.sampling import GREEDY, Sampling, sample_next
from tinytransformer.models.transformer import MaskedLM
from tinytransformer.text.batching import Batch, TokenData, pad_batch, split_ids
from tinytransformer.text.corpora import clean_text, load_corpus
from tinytransformer.text.dataset import prepare_data
from tinytransformer.text.gpt2_tokenizer import GPT2Tokenizer, load_gpt2_tokenizer
from tinytransformer.text.masking import mask_tokens, mlm_batch
from tinytransformer.text.tokenizers import (
    SPECIAL_TOKENS,
    BPETokenizer,
    CharTokenizer,
    load_tokenizer,
    tokenizer_from_dict,
)
from tinytransformer.text.topic_task import LABEL_NAMES, load_task
from tinytransformer.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinytransformer.training.config import (
    ConfigError,
    FinetuneConfig,
    PretrainConfig,
    RunConfig,
)
from tinytransformer.training.finetune import finetune
from tinytransformer.training.loop import BestWeights, TrainingError, fit, mean_loss, train_step
from tinytransformer.training.optimizer import AdamW, clip_grad_norm
from tinytransformer.training.pretrain import pretrain, resume
from tinytransformer.training.schedule import Schedule, get_lr

__all__ = [
    # text: corpus -> clean text -> tokens -> batches
    "load_corpus",
    "clean_text",
    "SPECIAL_TOKENS",
    "CharTokenizer",
    "BPETokenizer",
    "load_tokenizer",
    "tokenizer_from_dict",
    "GPT2Tokenizer",
    "load_gpt2_tokenizer",
    "split_ids",
    "Batch",
    "TokenData",
    "prepare_data",
    "pad_batch",
    "mask_tokens",
    "mlm_batch",
    "LABEL_NAMES",
    "load_task",
    # models: config -> GPT / MaskedLM -> classifier -> sampling
    "GPTConfig",
    "TransformerConfig",
    "PRESETS",
    "GPT",
    "MaskedLM",
    "MODEL_KINDS",
    "SequenceClassifier",
    "Sampling",
    "GREEDY",
    "sample_next",
    "generate_text",
    # training: settings -> optimizer -> schedule -> the loop -> runs -> checkpoints
    "RunConfig",
    "PretrainConfig",
    "FinetuneConfig",
    "ConfigError",
    "AdamW",
    "clip_grad_norm",
    "get_lr",
    "Schedule",
    "train_step",
    "fit",
    "mean_loss",
    "BestWeights",
    "TrainingError",
    "pretrain",
    "resume",
    "finetune",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    # evaluation
    "perplexity",
    "measure_latency",
    "corpus_bleu",
    "sentence_bleu",
    "rouge",
    "corpus_rouge",
    "accuracy",
    "confusion_matrix",
    "classification_report",
    # checking your own layers
    "check_gradients",
    "numerical_gradient",
    "rel_error",
]
