"""How good a model is, as functions of its outputs (none writes a file or prints):

perplexity.py       exp(mean NLL) of a held-out split, weighted by tokens over batches
latency.py          time to first token, tokens per second, p50/p95
bleu.py             corpus and sentence BLEU, equal to sacrebleu, and its two parts
rouge.py            ROUGE-1/2/L/Lsum, equal to rouge-score; rouge_n on token lists
diversity.py        distinct-n and the repetition rate of generated texts
classification.py   accuracy, confusion matrix, per-class precision/recall/F1, macro F1 (of a
                    confusion matrix: f1_per_class, macro_f1)
anatomy.py          a block taken apart: its sublayers as functions, the pre-LN block of them
ablation.py         head ablation: the loss increase when one attention head is zeroed
probe.py            mean pooling and its backward pass; a linear (ridge) probe per block
statistics.py       a result over seeds: mean, sd (ddof=1) and standard error
cloze.py            fill in the blank: a GPT from the left, a masked LM from both sides
scaling.py          a power law fitted to losses, non-embedding parameters
entropy.py          the entropy of the next-token distribution at a temperature (or top-p)
memorisation.py     canaries and their exposure, greedy reproduction of training text
logit_lens.py       the residual stream after each block read through ln_f and the head
"""
