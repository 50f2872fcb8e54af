"""The kinds of model, by the one name every command and checkpoint uses for each.

gpt   models/gpt.py          causal: position t sees tokens 0..t, predicts token t + 1
mlm   models/transformer.py  the masked-LM encoder: every position sees the whole text
"""

from tinytransformer.models.gpt import GPT
from tinytransformer.models.transformer import MaskedLM

MODEL_KINDS = {"gpt": GPT, "mlm": MaskedLM}


def kind_of(model):
    """The name of a model's kind: kind_of(GPT(...)) -> "gpt"."""
    for name, cls in MODEL_KINDS.items():
        if type(model) is cls:
            return name
    raise TypeError(f"model: expected one of {', '.join(MODEL_KINDS)}, got {type(model).__name__}")


def model_class(name, what="model"):
    """The class of a kind's name, with an error naming `what` for an unknown one."""
    if name not in MODEL_KINDS:
        raise ValueError(f"{what}: expected one of {', '.join(MODEL_KINDS)}, got {name!r}")
    return MODEL_KINDS[name]
