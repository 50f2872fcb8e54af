"""Training, in the order a step uses it:

config.py       a run's settings: PretrainConfig and FinetuneConfig, checked field by field
optimizer.py    AdamW and gradient-norm clipping
schedule.py     the learning rate: linear warm-up, cosine decay
loop.py         the one training loop: train_step, evaluation, best weights, early stopping
pretrain.py     a pretraining run: data, metrics.jsonl, checkpoints, exact resume
finetune.py     a fine-tuning run: the classifier on the topic task, test scores
checkpoint.py   .npz checkpoints without pickle, written atomically
metrics.py      a run's metrics.jsonl: rows appended one at a time, a torn last line dropped
rundir.py       the run's folder: one writer at a time, nothing replaced unasked
flops.py        the FLOPs of one training step, by formula, and the 6 N rule of thumb
"""
