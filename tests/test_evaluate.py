"""The eval command: perplexity and latency of a trained run, BLEU/ROUGE of files."""

import json
import math

import numpy as np
import pytest

from tinytransformer.commands.evaluate import main
from tinytransformer.commands.sample import main as sample_main
from tinytransformer.text.dataset import prepare_data
from tinytransformer.training.checkpoint import load_checkpoint
from tinytransformer.training.config import PretrainConfig
from tinytransformer.training.pretrain import pretrain


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    pretrain(PretrainConfig(preset="tiny", max_iters=20, eval_interval=10, eval_iters=2), out)
    return out


def test_eval_writes_perplexity_and_latency(trained_run, capsys):
    main(["--out", str(trained_run), "--quiet", "--prompts", "3", "--max-new-tokens", "5"])
    result = json.loads((trained_run / "eval.json").read_text())
    # perplexity is exp(mean NLL) over every val token but the first, computed here by hand
    ckpt = load_checkpoint(trained_run / "best.npz")
    _, data = prepare_data("python-docs", tokenizer=ckpt.tokenizer)
    assert result["n_tokens"] == len(data.val_ids) - 1
    assert result["perplexity"] == pytest.approx(math.exp(result["nll"]), rel=1e-12)
    # the same number by hand: every val token after the first predicted once, in windows of T
    model, ids, T = ckpt.model.eval(), data.val_ids, ckpt.model.config.block_size
    total, count = 0.0, 0
    for s in range(0, len(ids) - 1, T):
        x, y = ids[s : s + T][None], ids[s + 1 : s + T + 1][None]
        x = x[:, : y.shape[1]]
        total += float(model(x, y)[1]) * y.size
        count += y.size
    assert count == result["n_tokens"]
    assert result["nll"] == pytest.approx(total / count, rel=1e-6)
    assert 1.0 < result["perplexity"] < ckpt.model.config.vocab_size  # better than chance
    lat = result["latency"]
    assert lat["n_responses"] == 3 and lat["ttft_p50_s"] > 0 and lat["mean_tokens_per_s"] > 0
    assert "perplexity" in capsys.readouterr().out


def test_eval_task_scores_files(tmp_path, capsys):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("the cat sat on the mat\nhello world\n")
    ref.write_text("the cat sat on the mat\nhello world\n")
    main(["--task", str(hyp), str(ref)])
    result = json.loads(capsys.readouterr().out)
    assert result["bleu"]["score"] == pytest.approx(100.0)
    assert result["rouge"]["rouge1"] == pytest.approx(1.0)
    ref.write_text("only one line\n")
    with pytest.raises(SystemExit, match="ref.txt"):
        main(["--task", str(hyp), str(ref)])


def test_eval_without_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint"):
        main(["--out", str(tmp_path)])


def test_eval_task_bleu_equals_sacrebleu(tmp_path, capsys):
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = np.random.default_rng(0)
    words = "the a cat dog sat ran on under mat rug , . !".split()
    hyps = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(20)]
    refs = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(20)]
    (tmp_path / "h").write_text("\n".join(hyps) + "\n")
    (tmp_path / "r").write_text("\n".join(refs) + "\n")
    main(["--task", str(tmp_path / "h"), str(tmp_path / "r")])
    ours = json.loads(capsys.readouterr().out)["bleu"]["score"]
    assert ours == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)


def test_eval_and_sample_refuse_a_masked_lm_checkpoint(tmp_path):
    pretrain(PretrainConfig(model="mlm", preset="tiny", max_iters=0, eval_iters=1), tmp_path)
    with pytest.raises(SystemExit, match="holds a model of kind mlm; generating text needs a gpt"):
        main(["--out", str(tmp_path), "--quiet"])
    with pytest.raises(SystemExit, match="holds a model of kind mlm; generating text needs a gpt"):
        sample_main(["--out", str(tmp_path)])


def test_count_flags_reject_zero_with_a_message(capsys):
    with pytest.raises(SystemExit):
        main(["--prompts", "0"])
    assert "--prompts: expected a whole number >= 1, got 0" in capsys.readouterr().err
