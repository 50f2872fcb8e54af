"""From a corpus name to batches, in one call: load, clean, split, train a tokenizer, encode.

    tok, data = prepare_data("python-docs")     # char tokenizer, 90/10 split
    batch = data.get_batch("train", B, T, rng)  # Batch(idx, targets): (B, T) int64 each

The steps, in the order prepare_data runs them:
    text = clean_text(load_corpus("python-docs"))      # corpora.py
    train_text, val_text = first 90%, last 10%          # split before tokenizing: no leakage
    tok = BPETokenizer.train(train_text, 512)           # or CharTokenizer (tokenizers.py)
    data = TokenData(tok.encode(train_text), tok.encode(val_text))   # batching.py
"""

from tinytransformer.text.batching import TokenData, train_size
from tinytransformer.text.corpora import clean_text, load_corpus
from tinytransformer.text.tokenizers import BPETokenizer, CharTokenizer


def prepare_data(
    corpus="python-docs",
    tokenizer_kind="char",
    vocab_size=None,
    val_fraction=0.1,
    cache_dir=None,
    tokenizer=None,
):
    """Load, clean, split, train a tokenizer and encode; returns (tokenizer, TokenData).

    The text is split BEFORE the tokenizer is trained (first 1 - val_fraction of the characters
    for training), so BPE merges are learned from training text only: validation text then
    measures how well the model and the tokenizer generalise, with no merge tuned to it.

    The char tokenizer is the exception: its alphabet comes from the whole text. An alphabet only
    says which characters exist, nothing about their order or frequency, and a validation
    character missing from the training part (one rare symbol is enough) could not be encoded at
    all. BPE never has that problem, since it falls back to bytes.

    vocab_size: BPE only (default 512); the char tokenizer's size is set by the alphabet.
    tokenizer: an already trained tokenizer (a resumed or fine-tuned run keeps its model's
    tokenizer); tokenizer_kind and vocab_size are then ignored.
    """
    if tokenizer_kind not in ("char", "bpe"):
        raise ValueError(f'tokenizer_kind: expected "char" or "bpe", got {tokenizer_kind!r}')
    if tokenizer_kind == "char" and vocab_size is not None:
        raise ValueError(
            "vocab_size: the char tokenizer's vocabulary is the text's alphabet, so expected "
            f"None, got {vocab_size!r} (use tokenizer_kind='bpe' to choose a size)"
        )
    text = clean_text(load_corpus(corpus, cache_dir=cache_dir))
    if not text:
        raise ValueError(f"corpus {corpus!r} is empty after clean_text: nothing to train on")
    n_train = train_size(len(text), val_fraction)
    train_text, val_text = text[:n_train], text[n_train:]
    if not train_text:
        raise ValueError(
            f"val_fraction={val_fraction} leaves no training text out of {len(text)} characters"
        )
    if tokenizer is not None:
        pass  # keep the given tokenizer: its ids are the ones the model was trained on
    elif tokenizer_kind == "char":
        tokenizer = CharTokenizer.train(text)
    else:
        tokenizer = BPETokenizer.train(train_text, 512 if vocab_size is None else vocab_size)
    data = TokenData(tokenizer.encode(train_text), tokenizer.encode(val_text))
    return tokenizer, data
