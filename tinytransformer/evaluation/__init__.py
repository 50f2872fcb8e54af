"""How good a model is, as functions of its outputs (none writes a file or prints):

perplexity.py       exp(mean NLL) of a held-out split
latency.py          time to first token, tokens per second, p50/p95
bleu.py             corpus and sentence BLEU, equal to sacrebleu
rouge.py            ROUGE-1/2/L/Lsum, equal to rouge-score
classification.py   accuracy, confusion matrix, per-class precision/recall/F1, macro F1
anatomy.py          a block taken apart: its sublayers as functions, the pre-LN block of them
ablation.py         head ablation: the loss increase when one attention head is zeroed
cloze.py            fill in the blank: a GPT from the left, a masked LM from both sides
"""
