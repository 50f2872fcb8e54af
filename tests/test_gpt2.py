"""GPT-2 for real: its tokenizer against tiktoken built from the same two files, Hugging Face
directories in both directions against transformers, and the commands that use them."""

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_tokenizer import HOSTILE, make_hostile, refusal, write_tiny_gpt2_files
from tinytransformer import BPETokenizer, CharTokenizer, load_corpus, load_gpt2_tokenizer
from tinytransformer.commands.export import main as export_main
from tinytransformer.commands.sample import main as sample_main
from tinytransformer.commands.train import main as train_main
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.hf import PretrainedError
from tinytransformer.text import pretrained
from tinytransformer.text.gpt2_tokenizer import FILES, PATTERN, bytes_to_unicode, default_files
from tinytransformer.text.pretrained import load_pretrained_tokenizer

TOK = load_gpt2_tokenizer()
SHAKESPEARE = Path("/work/shared/data/tinyshakespeare.txt")  # on the development machine only
GENERATED = [
    "Write a short story about",
    "naïve café — Ünïcödé, ß, İstanbul",
    "emoji 🎉👩‍👩‍👧 and flags 🇫🇷",
    "中文，日本語のテキスト、한국어",
    "   leading, trailing   \n\n\n\t tabs\r\n and runs      of spaces   ",
    "it's they're we've I'm you'll he'd IT'S",
    "numbers 3.14159 1,000,000 2026-12-01 0x1F ²³",
    "<|endoftext|> as text",
    "",
]


@functools.cache
def tiktoken_encoding():
    """tiktoken's encoder built offline from the same encoder.json (its ranks are GPT-2's ids);
    None when tiktoken is not installed."""
    try:
        import tiktoken
    except ImportError:
        return None
    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    encoder = json.loads((default_files() / "encoder.json").read_text(encoding="utf-8"))
    ranks = {bytes(to_byte[c] for c in s): i for s, i in encoder.items() if s != "<|endoftext|>"}
    return tiktoken.Encoding("gpt2-files", pat_str=PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256})  # fmt: skip


@pytest.fixture
def tiktoken_gpt2():
    if tiktoken_encoding() is None:
        pytest.skip("tiktoken is not installed")
    return tiktoken_encoding()


# --- the tokenizer --------------------------------------------------------------------------------


def test_the_articles_prompt_and_gpt2s_layout():
    assert TOK.encode("Write a short story about") == [16594, 257, 1790, 1621, 546]
    assert (TOK.vocab_size, TOK.eot_id, len(TOK.ranks)) == (50257, 50256, 50000)
    assert TOK.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert len(TOK.encode("<|endoftext|>")) > 1  # by default it is ordinary text
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256 and table[32] == "Ġ" and table[10] == "Ċ"


def test_the_same_ids_as_tiktoken_on_the_embedded_corpus_and_generated_text(tiktoken_gpt2):
    texts = [load_corpus("python-docs"), *GENERATED]
    if SHAKESPEARE.is_file():
        texts.append(SHAKESPEARE.read_text(encoding="utf-8"))
    chars = tokens = 0
    for text in texts:
        ids = TOK.encode(text)
        assert ids == tiktoken_gpt2.encode_ordinary(text), text[:60]
        assert TOK.decode(ids) == text
        chars, tokens = chars + len(text), tokens + len(ids)
    assert chars > 400_000 and tokens > 100_000


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_decode_of_encode_is_the_identity_and_tiktoken_agrees(s):
    ids = TOK.encode(s)
    assert TOK.decode(ids) == s
    if tiktoken_encoding() is not None:
        assert ids == tiktoken_encoding().encode_ordinary(s)


def test_both_published_file_formats_load_the_same_tokenizer(tmp_path):
    TOK.save_pretrained(tmp_path / "hf")  # Hugging Face's names: vocab.json + merges.txt
    hf = load_gpt2_tokenizer(tmp_path / "hf")
    assert hf.encoder == TOK.encoder and hf.ranks == TOK.ranks
    text = "Both formats, one tokenizer."
    assert hf.encode(text) == TOK.encode(text)
    with pytest.raises(
        FileNotFoundError, match="expected encoder.json \\+ vocab.bpe or vocab.json"
    ):
        load_gpt2_tokenizer(tmp_path)


def test_huggingface_loads_gpt2s_tokenizer_as_written(tmp_path):
    transformers = pytest.importorskip("transformers")
    TOK.save_pretrained(tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    text = load_corpus("python-docs")[:20_000] + "".join(GENERATED[:-2])
    assert hf.encode(text) == TOK.encode(text)


@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_our_own_tokenizers_in_huggingface_format_encode_identically(tmp_path, kind):
    transformers = pytest.importorskip("transformers")
    text = load_corpus("python-docs")
    tok = BPETokenizer.train(text[:100_000], 600) if kind == "bpe" else CharTokenizer.train(text)
    tok.save_pretrained(tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    sample = text[:60_000]
    ids = tok.encode(sample)
    assert hf.encode(sample) == ids
    assert hf.decode(ids) == sample
    assert load_pretrained_tokenizer(tmp_path).to_dict() == tok.to_dict()  # and back to ours


# --- checkpoints both ways ------------------------------------------------------------------------


def small_hf(transformers, torch, seed=0):
    config = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2,
                                     n_head=2, bos_token_id=49, eos_token_id=49)  # fmt: skip
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # off the init, so that biases and gains matter
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape))
    return model


def test_a_huggingface_gpt2_loads_into_ours_with_equal_logits(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    theirs = small_hf(transformers, torch)
    theirs.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path)
    idx = np.random.default_rng(0).integers(0, 50, size=(3, 16))
    want = theirs(torch.from_numpy(idx)).logits.detach().numpy()
    got, _ = ours(idx)
    assert np.abs(got - want).max() < 1e-5


def test_ours_saved_loads_into_huggingface_with_equal_logits_and_round_trips_bit_exact(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    ours = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16), seed=3)
    rng = np.random.default_rng(1)
    for p in ours.params.values():
        p += (0.3 * rng.standard_normal(p.shape)).astype(p.dtype)
    # a non-contiguous parameter (a transposed view) must still be written in its own order
    w = ours.params["transformer.h.0.mlp.c_fc.weight"]
    ours.params["transformer.h.0.mlp.c_fc.weight"] = np.asfortranarray(w)
    ours.save_pretrained(tmp_path)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    idx = rng.integers(0, 50, size=(2, 16))
    got, _ = ours(idx)
    want = theirs(torch.from_numpy(idx)).logits.detach().numpy()
    assert np.abs(got - want).max() < 1e-5
    back = GPT.from_pretrained(tmp_path)
    assert all(np.array_equal(back.params[n], ours.params[n]) for n in ours.params)


def test_both_key_styles_and_old_mask_buffers_load(tmp_path):
    from safetensors.numpy import load_file, save_file

    ours = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16), seed=4)
    ours.save_pretrained(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    old = {n.removeprefix("transformer."): a for n, a in tensors.items()}  # h.0.attn... style
    old["h.0.attn.bias"] = np.tril(np.ones((1, 1, 16, 16), np.float32))  # GPT-2's mask buffer
    old["h.0.attn.masked_bias"] = np.array(-1e4, np.float32)
    old["lm_head.weight"] = tensors["transformer.wte.weight"]  # tied: the same array
    save_file(old, tmp_path / "model.safetensors")
    back = GPT.from_pretrained(tmp_path)
    assert all(np.array_equal(back.params[n], ours.params[n]) for n in ours.params)


def test_save_pretrained_writes_the_model_and_its_tokenizer_and_returns_the_folder(tmp_path):
    """A folder that does not exist yet is made; it holds the two model files and, when a
    tokenizer is given, the tokenizer's files, which load back as the same tokenizer."""
    tok = CharTokenizer.train("hello world")
    ours = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=2,
                         n_embd=8), seed=1)  # fmt: skip
    folder = ours.save_pretrained(tmp_path / "new" / "hf", tokenizer=tok)
    assert folder == tmp_path / "new" / "hf"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(os.listdir(folder))
    assert load_pretrained_tokenizer(folder).to_dict() == tok.to_dict()
    # GPT-2's bos/eos is the tokenizer's <|endoftext|> (vocab_size - 5 in ours, not the last id)
    config = json.loads((folder / "config.json").read_text())
    assert config["eos_token_id"] == config["bos_token_id"] == tok.eot_id == tok.vocab_size - 5
    alone = ours.save_pretrained(tmp_path / "alone")
    assert sorted(os.listdir(alone)) == ["config.json", "model.safetensors"]  # no tokenizer
    # no tokenizer, no <|endoftext|>: null, which transformers reads as "none" (without the
    # fields it would take GPT-2's 50256, outside a small vocabulary, and warn)
    alone_config = json.loads((alone / "config.json").read_text())
    assert alone_config["eos_token_id"] is None and alone_config["bos_token_id"] is None


def test_from_pretrained_loads_float32_by_default_or_the_dtype_asked(tmp_path):
    """GPT-2's files hold float32; from_pretrained keeps float32 unless asked for float64, which
    holds every float32 value exactly (so the two agree bit for bit after a cast back)."""
    ours = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16), seed=5)
    ours.save_pretrained(tmp_path)
    default = GPT.from_pretrained(tmp_path)
    assert default.dtype == np.float32 and default.config == ours.config
    assert {p.dtype for p in default.params.values()} == {np.dtype(np.float32)}
    wide = GPT.from_pretrained(tmp_path, dtype=np.float64)
    assert {p.dtype for p in wide.params.values()} == {np.dtype(np.float64)}
    for name, p in ours.params.items():
        np.testing.assert_array_equal(default.params[name], p)
        np.testing.assert_array_equal(wide.params[name].astype(np.float32), p)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("activation_function", "gelu", "activation_function: expected 'gelu_new', got 'gelu'"),
        ("n_inner", 100, "n_inner: expected null or 4 \\* n_embd = 64, got 100"),
        ("layer_norm_epsilon", 1e-6, "layer_norm_epsilon: expected 1e-05, got 1e-06"),
        ("tie_word_embeddings", False, "tie_word_embeddings: expected True, got False"),
        ("model_type", "llama", "model_type: expected 'gpt2', got 'llama'"),
    ],
)
def test_a_config_we_cannot_honour_is_an_error_naming_the_field(tmp_path, field, value, message):
    GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16)).save_pretrained(
        tmp_path
    )
    config = json.loads((tmp_path / "config.json").read_text())
    config[field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(PretrainedError, match=message):
        GPT.from_pretrained(tmp_path)


def test_weights_that_do_not_fit_the_config_are_an_error_naming_the_file(tmp_path):
    from safetensors.numpy import load_file, save_file

    GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16)).save_pretrained(
        tmp_path
    )
    weights = tmp_path / "model.safetensors"
    tensors = load_file(weights)
    del tensors["transformer.ln_f.bias"]
    save_file(tensors, weights)
    with pytest.raises(PretrainedError, match=r"model\.safetensors: missing for config\.json's "
                       r"model: transformer\.ln_f\.bias$"):  # fmt: skip
        GPT.from_pretrained(tmp_path)
    tensors["transformer.ln_f.bias"] = np.zeros(17, np.float32)
    save_file(tensors, weights)
    with pytest.raises(PretrainedError, match=r"wrongly shaped .*ln_f\.bias \(17,\) \(expected"):
        GPT.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda spec: spec.update(model=[]), "not a tokenizer written by tinytransformer"),
        (lambda spec: spec["pre_tokenizer"].update(pretokenizers=[]), "not a tokenizer written"),
        (lambda spec: None, "a tokenizer of 264 ids, for a model of 99"),
    ],
)
def test_a_damaged_or_mismatched_tokenizer_json_is_one_error_naming_it(tmp_path, edit, message):
    tok = BPETokenizer.train(load_corpus("python-docs")[:3000], vocab_size=264)
    tok.save_pretrained(tmp_path)
    spec = json.loads((tmp_path / "tokenizer.json").read_text())
    edit(spec)
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=f"^{tmp_path / 'tokenizer.json'}: {message}"):
        load_pretrained_tokenizer(tmp_path, vocab_size=99 if "ids" in message else 264)


def test_gpt2_vocabulary_files_that_are_not_gpt2s_name_the_file(tmp_path):
    (tmp_path / "vocab.json").write_text('["a list"]')
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    with pytest.raises(ValueError, match="vocab.json: expected a JSON object of token -> integer"):
        load_gpt2_tokenizer(tmp_path)
    (tmp_path / "vocab.json").write_text('{"<|endoftext|>": 0, "a": 1}')
    (tmp_path / "merges.txt").write_text("a b c\n")
    with pytest.raises(
        ValueError, match="merges.txt: expected one 'a b' merge per line, got 'a b c'"
    ):
        load_gpt2_tokenizer(tmp_path)


def test_a_name_is_looked_up_in_the_local_cache_and_nothing_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(
        PretrainedError, match="not in the Hugging Face cache.*`hf download gpt2 config.json"
    ):
        GPT.from_pretrained("gpt2")
    snapshot = tmp_path / "hf-home" / "hub" / "models--gpt2" / "snapshots" / "abc123"
    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16))
    model.save_pretrained(snapshot)
    assert GPT.from_pretrained("gpt2").config == model.config
    # a newer snapshot, but refs/main names the first: the one refs/main names is read
    newer = GPT(GPTConfig(vocab_size=60, block_size=16, n_layer=1, n_head=2, n_embd=16))
    newer.save_pretrained(snapshot.parent / "def456")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    assert GPT.from_pretrained("gpt2").config == model.config
    # a folder named gpt2 in the working directory (where other tutorials download to), with
    # no config.json, does not hide the cache: the cache's model is used, and a warning says so
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gpt2").mkdir()
    with pytest.warns(UserWarning, match="holds no config.json; using the Hugging Face cache's"):
        assert GPT.from_pretrained("gpt2").config == model.config
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))  # the cache moved: not found
    with pytest.raises(PretrainedError, match="gpt2: no config.json"):  # the folder's, then
        GPT.from_pretrained("gpt2")
    (tmp_path / "gpt2").rmdir()
    with pytest.raises(PretrainedError, match="elsewhere"):
        GPT.from_pretrained("gpt2")


# --- the commands ---------------------------------------------------------------------------------


def test_export_then_sample_hf_gives_the_same_text_as_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    train_main(["--preset", "tiny", "--max-iters", "10", "--eval-interval", "5", "--eval-iters",
                "1", "--quiet", "--sample-tokens", "0", "--out", str(run)])  # fmt: skip
    export_main(["--out", str(run), "--to", str(tmp_path / "hf")])
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(
        os.listdir(tmp_path / "hf")
    )
    capsys.readouterr()
    flags = ["--prompt", "def ", "--max-new-tokens", "30", "--seed", "3"]
    sample_main(["--out", str(run), *flags])
    from_run = capsys.readouterr().out
    sample_main(["--hf", str(tmp_path / "hf"), *flags])
    assert capsys.readouterr().out == from_run
    with pytest.raises(SystemExit, match="already holds config.json"):
        export_main(["--out", str(run), "--to", str(tmp_path / "hf")])
    with pytest.raises(
        SystemExit, match="^error: --hf nope: no such folder, and not in the Hugging Face cache"
    ):
        sample_main(["--hf", "nope"])


# --- GPT-2's tokenizer on bpe.py's engine: long words, surrogates, special tokens -----------------


def test_long_words_get_tiktokens_ids(tiktoken_gpt2):
    """One piece of 100,000 letters (the merge loop before bpe.py was quadratic: 73 s for it;
    tiktoken merges long pieces with a heap too, so this also checks that the two break ties
    alike)."""
    rng = np.random.default_rng(0)
    for letters in ("abcdefghijklmnopqrstuvwxyz", "ab", "e"):
        word = "".join(rng.choice(list(letters), size=100_000))
        assert TOK.encode(word) == tiktoken_gpt2.encode_ordinary(word), letters
        assert TOK.decode(TOK.encode(word)) == word


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="aeinrst ", min_size=200, max_size=3000))
def test_long_pieces_of_common_letters_get_tiktokens_ids(s):
    if tiktoken_encoding() is not None:
        assert TOK.encode(s) == tiktoken_encoding().encode_ordinary(s)


SURROGATES = ["\ud800", "ab\ud800cd", "x\udfff\ud800y", "\ud83d\ude00", "\ud800\ud800", " \udc00 "]


def test_a_lone_surrogate_is_encoded_as_tiktoken_encodes_it(tiktoken_gpt2):
    """tiktoken reads the str through UTF-16 with errors="replace": a lone surrogate becomes
    U+FFFD, and a high + low surrogate written as two characters the one character they make."""
    for s in SURROGATES:
        assert TOK.encode(s) == tiktoken_gpt2.encode_ordinary(s), repr(s)
        both = f"{s}<|endoftext|>{s}"
        want = tiktoken_gpt2.encode(both, allowed_special="all")
        assert TOK.encode(both, allowed_special="all") == want, repr(both)
    assert TOK.decode(TOK.encode("a\ud800")) == "a\ufffd"


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters() | st.characters(categories=["Cs"]), max_size=30))
def test_any_string_with_surrogates_is_encoded_as_tiktoken_encodes_it(s):
    ids = TOK.encode(s)
    if tiktoken_encoding() is not None:
        assert ids == tiktoken_encoding().encode_ordinary(s)


def test_gpt2_decode_refuses_floats_and_bools_as_our_tokenizers_do():
    ours = BPETokenizer.train("hello world", 262)
    for tok in (TOK, ours):
        assert tok.decode([5]) == tok.decode([np.int64(5)]) == tok.decode(np.array([5]))
        for bad in (5.0, True, np.float32(5), None):
            with pytest.raises(TypeError, match=r"^ids\[1\]: expected a whole number >= 0, got"):
                tok.decode([5, bad])
        with pytest.raises(ValueError, match=r"ids\[0\]: expected a whole number >= 0, got -1"):
            tok.decode([-1])
        with pytest.raises(TypeError, match="expected integer token ids, got dtype float64"):
            tok.decode(np.array([5.0]))
    with pytest.raises(ValueError, match=r"expected ids in \[0, 50257\), got 50257 at position 0"):
        TOK.decode([50257])


def test_gpt2_encode_takes_allowed_special_as_ours_does():
    assert TOK.encode("a<|endoftext|>", allowed_special={"<|endoftext|>"}) == [64, 50256]
    assert TOK.encode("a<|endoftext|>", allowed_special=set()) == TOK.encode("a<|endoftext|>")
    with pytest.raises(ValueError, match=r"expected tokens from \('<\|endoftext\|>',\), got"):
        TOK.encode("a", allowed_special={"[PAD]"})
    assert TOK.special_id("<|endoftext|>") == TOK.eot_id == 50256
    np.testing.assert_array_equal(TOK.special_ids, [50256])


def test_a_literal_endoftext_is_text_to_tiktoken_and_us_but_the_token_to_hugging_face(
    tmp_path, tiktoken_gpt2
):
    """Hugging Face's GPT-2 tokenizer turns "<|endoftext|>" written in the text into 50256 (it
    matches its special tokens in the text first); tiktoken's encode_ordinary and our default
    keep it as text; allowed_special="all", in ours and in tiktoken's encode, gives Hugging
    Face's ids. Every text of GENERATED is compared, that string included."""
    transformers = pytest.importorskip("transformers")
    TOK.save_pretrained(tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    for text in [*GENERATED, "a<|endoftext|>b <|endoftext|>\n<|endoftext|><|endoftext|>"]:
        ordinary, special = TOK.encode(text), TOK.encode(text, allowed_special="all")
        assert ordinary == tiktoken_gpt2.encode_ordinary(text)
        assert special == tiktoken_gpt2.encode(text, allowed_special="all")
        assert hf.encode(text) == special
        assert (ordinary == special) == ("<|endoftext|>" not in text)
    assert hf.encode("<|endoftext|>") == [50256]


def test_our_tokenizers_in_huggingface_format_read_literal_special_tokens_as_tokens(tmp_path):
    """The same for our own tokenizers written as tokenizer.json: Hugging Face matches all five
    special strings in the text, which ours does with allowed_special="all"."""
    transformers = pytest.importorskip("transformers")
    text = "a [PAD] b[MASK]c <|endoftext|>[CLS][SEP] d"
    bpe = BPETokenizer.train(load_corpus("python-docs")[:20_000], 300)
    for tok in (bpe, CharTokenizer.train(text)):
        tok.save_pretrained(tmp_path / tok.kind)
        hf = transformers.AutoTokenizer.from_pretrained(tmp_path / tok.kind)
        assert hf.encode(text) == tok.encode(text, allowed_special="all") != tok.encode(text)


# --- GPT-2's files, tokenizer.json: every fault is one line naming the file -----------------------


def edit_vocab(vocab, changes):
    """Give tokens of a vocab.json new ids; an id of ... removes the token and renumbers the
    rest 0..n-1 (in their order), so that the removal leaves no gap."""
    encoder = json.loads(vocab.read_text(encoding="utf-8"))
    encoder.update(changes)
    if ... in changes.values():
        kept = sorted((t for t in encoder if encoder[t] is not ...), key=encoder.get)
        encoder = {t: k for k, t in enumerate(kept)}
    vocab.write_text(json.dumps(encoder, ensure_ascii=False), encoding="utf-8")


EOT = "<|endoftext|>"
# fault -> (the file at fault, an edit of vocab.json's ids or the file's new bytes, the message)
GPT2_FILE_FAULTS = {
    "an <|endoftext|> id of 10^12": (
        "vocab.json",
        {EOT: 10**12},
        "261 tokens need the ids 0 to 260, got 1000000000000 for '<|endoftext|>' and none for 260",
    ),
    "two tokens with one id": ("vocab.json", {"he": 0}, "have the same id, 0"),
    "a negative id": ("vocab.json", {"he": -1}, "id of 'he': expected a whole number >= 0, got -1"),
    "a float id": ("vocab.json", {"he": 1.5}, "id of 'he': expected a whole number >= 0, got 1.5"),
    "a bool id": ("vocab.json", {"he": True}, "id of 'he': expected a whole number >= 0, got True"),
    "no <|endoftext|>": ("vocab.json", {EOT: ...}, "expected the token '<|endoftext|>'"),
    "a byte without a token": ("vocab.json", {"Ā": ...}, "no token for the byte 0 ('Ā')"),
    "a token of no bytes": ("vocab.json", {"h中": 257, "he": ...}, "'h中' (id 257) holds '中'"),
    "a merge's token missing": ("merges.txt", {"he": ...}, "merge 1 (h e) needs the token 'he'"),
    "not an object": ("vocab.json", b"[1]", "expected a JSON object of token -> integer id"),
    "not UTF-8": ("vocab.json", b"\xfe{}", "not a UTF-8 text file (bad byte at offset 0)"),
    "not JSON": ("vocab.json", b'{"a": 1,', "not valid JSON"),
    "a merge twice": ("merges.txt", "Ġ t\nh e\nh e\n".encode(), "merge 2 (h e) repeats merge 1"),
    "not a pair": ("merges.txt", b"#version: 0.2\nhe\n", "merge per line, got 'he' (line 2)"),
    "unknown tokens": ("merges.txt", b"x y\n", "merge 0 (x y) needs the token 'xy'"),
    "merges cut short": ("merges.txt", "Ġ t\n".encode(), "no merge makes 3 of the tokens of"),
    "merges not UTF-8": ("merges.txt", b"a \xff\n", "not a UTF-8 text file (bad byte at offset 2)"),
}


@pytest.mark.parametrize("fault", GPT2_FILE_FAULTS)
def test_every_fault_in_gpt2s_files_is_one_line_naming_the_file(tmp_path, fault):
    """Each fault is found when the files are read (a token missing from encoder.json was a
    bare KeyError when encoding), and its message names the file it is in."""
    culprit, edit, message = GPT2_FILE_FAULTS[fault]
    vocab, _ = write_tiny_gpt2_files(tmp_path)
    if isinstance(edit, dict):
        edit_vocab(vocab, edit)
    else:
        (tmp_path / culprit).write_bytes(edit)
    error = refusal(lambda: load_gpt2_tokenizer(tmp_path), tmp_path / culprit)
    assert message in error, error


def test_the_tiny_gpt2_files_load_and_an_edited_file_is_read_again(tmp_path):
    tok = load_gpt2_tokenizer(write_tiny_gpt2_files(tmp_path)[0].parent)
    assert (tok.vocab_size, tok.eot_id, len(tok.ranks)) == (261, 260, 4)
    assert tok.encode(" the in<|endoftext|>", allowed_special="all") == [258, 32, 259, 260]
    edit_vocab(tmp_path / "vocab.json", {EOT: 10**12})  # not taken from the cache of files read
    with pytest.raises(ValueError, match="got 1000000000000"):
        load_gpt2_tokenizer(tmp_path)


@pytest.mark.parametrize("names", FILES.values(), ids=FILES.keys())
@pytest.mark.parametrize("kind", HOSTILE)
def test_gpt2_files_that_are_not_regular_files_are_one_line_naming_them(tmp_path, names, kind):
    for which in (0, 1) if kind != "nested JSON" else (0,):  # merges.txt is not JSON
        paths = write_tiny_gpt2_files(tmp_path / str(which), names)
        paths[which].unlink()
        make_hostile(paths[which], kind)
        load = functools.partial(load_gpt2_tokenizer, paths[0].parent)
        assert HOSTILE[kind] in refusal(load, paths[which])
        if names == FILES["huggingface"]:  # a model folder: load_pretrained_tokenizer reads them
            refusal(functools.partial(load_pretrained_tokenizer, paths[0].parent), paths[which])


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_tokenizer_json_that_is_not_a_regular_json_file_is_one_line_naming_it(tmp_path, kind):
    path = tmp_path / "tokenizer.json"
    make_hostile(path, kind)
    assert HOSTILE[kind] in refusal(lambda: load_pretrained_tokenizer(tmp_path), path)


def test_a_tokenizer_json_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    CharTokenizer.train("abc").save_pretrained(tmp_path)
    path = tmp_path / "tokenizer.json"
    monkeypatch.setattr(pretrained, "FILE_LIMIT", path.stat().st_size - 1)
    assert "allowed" in refusal(lambda: load_pretrained_tokenizer(tmp_path), path)


def edit_tokenizer_json(path, fault):
    """Put one fault into a tokenizer.json written by our save_pretrained."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    first, last = min(vocab, key=vocab.get), max(vocab, key=vocab.get)
    if fault == "a negative id":
        vocab[first] = -1
    elif fault == "an id twice":
        vocab[last] = 0
    elif fault == "a gap":
        vocab[last] = len(vocab)
    elif fault == "a float id":
        vocab[last] = 2.0
    elif fault == "a special token's id":
        spec["added_tokens"][0]["id"] = 0
    elif fault == "special tokens reordered":
        spec["added_tokens"].reverse()
    elif fault == "a merged token renamed":
        vocab["zz"] = vocab.pop(last)
    else:  # the vocab written in another order, every id kept: no fault
        spec["model"]["vocab"] = dict(reversed(vocab.items()))
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")


TOKENIZER_JSON_FAULTS = {
    "a negative id": "model.vocab: the id of ",  # ... the first token: expected ... got -1
    "an id twice": "have the same id, 0",
    "a gap": "and none for",
    "a float id": "expected a whole number >= 0, got 2.0",
    "a special token's id": "added_tokens: expected [('<|endoftext|>', ",
    "special tokens reordered": "added_tokens: expected [('<|endoftext|>', ",
    "a merged token renamed": ", but id 269 is 'zz'",
}


@pytest.mark.parametrize("kind", ["bpe", "char"])
@pytest.mark.parametrize("fault", TOKENIZER_JSON_FAULTS)
def test_tokenizer_json_ids_are_read_and_a_gap_a_duplicate_or_a_negative_is_refused(
    tmp_path, kind, fault
):
    """The vocab's ids are the ids: a negative one, one given twice or a gap would shift or
    merge ids (tokens used to be numbered by their order, the ids ignored), so each is refused
    by name; the same vocab written in another order is the same tokenizer."""
    text = load_corpus("python-docs")[:3000]
    tok = BPETokenizer.train(text, 275) if kind == "bpe" else CharTokenizer.train(text)
    tok.save_pretrained(tmp_path)
    path = tmp_path / "tokenizer.json"
    edit_tokenizer_json(path, "reordered")
    assert load_pretrained_tokenizer(tmp_path).to_dict() == tok.to_dict()
    edit_tokenizer_json(path, fault)
    message = TOKENIZER_JSON_FAULTS[fault]
    if fault == "a negative id":
        first = tok.chars[0] if kind == "char" else bytes_to_unicode()[0]
        message += f"{first!r}: expected a whole number >= 0, got -1"
    if kind == "char" and fault == "a merged token renamed":  # no merges: 'zz' is no character
        message = "chars: expected single-character strings, got 'zz'"
    assert message in refusal(lambda: load_pretrained_tokenizer(tmp_path), path)


def test_loading_weights_draws_no_random_initialisation(tmp_path, monkeypatch):
    """from_pretrained and load_checkpoint build the model from the file's weights (the
    constructor's params=): GPT-2 small's 124M random numbers, drawn and thrown away, were most
    of its load time. The weights are the file's, copied (not views of the mapped file)."""
    from tinytransformer.models import transformer
    from tinytransformer.training.checkpoint import load_checkpoint, save_checkpoint

    ours = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16), seed=5)
    ours.save_pretrained(tmp_path / "hf")
    save_checkpoint(tmp_path / "ckpt.npz", ours)

    def no_init(*args, **kwargs):
        raise AssertionError("a random initialisation was drawn")

    monkeypatch.setattr(transformer, "init_params", no_init)
    for loaded in (
        GPT.from_pretrained(tmp_path / "hf"),
        load_checkpoint(tmp_path / "ckpt.npz").model,
    ):
        assert loaded.params.keys() == ours.params.keys()
        for name, p in ours.params.items():
            np.testing.assert_array_equal(loaded.params[name], p)
            assert loaded.params[name].flags.owndata and loaded.params[name].flags.writeable
    with pytest.raises(ValueError, match="load_state_dict: missing"):
        GPT(ours.config, params={})
