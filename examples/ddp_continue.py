"""Continue training our model with PyTorch's DistributedDataParallel: two processes on this
CPU, the gloo backend, each process a replica of the model taking half of every batch.

    model.save_pretrained("/tmp/ours")                    # from tinytransformer (a GPT of ours)
    torchrun --standalone --nproc_per_node 2 examples/ddp_continue.py --model /tmp/ours --steps 20

What happens:
1. torchrun starts two processes (ranks 0 and 1) and tells each its rank and where the other is
   (environment variables); init_process_group("gloo") connects them over local sockets.
2. Each reads the exported weights (config.json + model.safetensors, models/hf.py) and builds
   the same PyTorch model from them: benchmarks/train_vs_torch.py's torch_forward, nanoGPT's
   forward on a dict of tensors with our parameter names (GPT-2's Conv1D layout, tanh GELU).
3. Every rank draws the same global batch of B windows (the package's batch_source, one seed)
   and takes its own B / 2 rows. DDP averages the gradients of the two halves during backward
   (an all-reduce), so each replica applies the same update and the replicas stay equal, which
   the script asserts at the end: one step on B rows, computed by two processes.
4. Before any update, the loss on the first global batch (the mean of the two halves' mean
   losses: equal halves, every target counted) must be our NumPy model's loss on that batch:
   the run continues from ours (asserted, 1e-4 relative: float32 against our float64).

On a real cluster the same script runs with backend "nccl" (GPUs talk over NVLink or
InfiniBand), one process per GPU, torchrun --nnodes N across machines; when a model's weights,
gradients and optimizer state no longer fit on one GPU, FSDP (FullyShardedDataParallel) shards
them across the processes instead of replicating them. Left out: checkpointing, gradient
accumulation, mixed precision, and writing the weights back (models/hf.py would read them).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from train_vs_torch import torch_forward  # noqa: E402 (benchmarks/ is not a package)

from tinytransformer import GPT, prepare_data  # noqa: E402
from tinytransformer.models.hf import read_pretrained  # noqa: E402
from tinytransformer.notebook import batch_source  # noqa: E402

CONTINUES = 1e-4  # |first torch loss - our loss| / our loss: float32 against float64


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a folder written by GPT.save_pretrained")
    p.add_argument("--corpus", default="python-docs", help="the corpus the model was trained on")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16, help="global: split over the ranks")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=7, help="of the batches")
    p.add_argument("--json", help="rank 0 writes the losses here (not --log: torchrun takes that)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    import torch  # examples/ only: the package never imports torch
    import torch.distributed as dist
    from torch.nn import functional as F
    from torch.nn.parallel import DistributedDataParallel

    start = time.perf_counter()
    torch.set_num_threads(1)  # two processes on two cores
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size}: expected a multiple of {world} ranks")
    config, state = read_pretrained(args.model)
    tokenizer, data = prepare_data(args.corpus)
    if tokenizer.vocab_size != config.vocab_size:
        raise SystemExit(f"--corpus {args.corpus}: vocabulary {tokenizer.vocab_size}, the model's "
                         f"{config.vocab_size}")  # fmt: skip
    next_batch = batch_source(data, "train", args.batch_size, config.block_size, args.seed)
    batch = next_batch()  # (B, T): the same on every rank, same seed
    ours = GPT(config, dtype=np.float64).eval()  # our model, as exported, in float64
    ours.load_state_dict(state)
    our_loss = float(ours(batch.idx, batch.targets)[1])

    class Weights(torch.nn.Module):  # our parameter names on a dict of tensors, as a Module
        def __init__(self):
            super().__init__()
            self.names = list(state)
            tensors = [torch.tensor(state[n], dtype=torch.float32) for n in self.names]
            self.tensors = torch.nn.ParameterList(tensors)

        def forward(self, idx, targets):
            return torch_forward(dict(zip(self.names, self.tensors)), idx, targets, config, F)

    module = Weights()
    model = DistributedDataParallel(module)  # broadcasts rank 0's weights, all-reduces grads
    optimizer = torch.optim.AdamW(module.parameters(), lr=args.lr, betas=(0.9, 0.99))
    rows = slice(rank * args.batch_size // world, (rank + 1) * args.batch_size // world)
    losses = []
    for step in range(args.steps):
        if step:
            batch = next_batch()
        idx, targets = (torch.from_numpy(a[rows]) for a in (batch.idx, batch.targets))
        loss = model(idx, targets)  # this rank's half
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients of all ranks here
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)  # same norm on every rank
        optimizer.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)  # sum over ranks
        losses.append(float(mean) / world)  # the global batch's loss
    checksum = torch.stack([p.detach().double().sum() for p in module.parameters()])
    sums = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(sums, checksum)
    assert all(torch.equal(s, sums[0]) for s in sums), "the replicas' weights differ"
    gap = abs(losses[0] - our_loss) / our_loss
    assert gap < CONTINUES, f"first loss {losses[0]:.6f}, ours {our_loss:.6f}: not continued"
    if rank == 0:
        result = {
            "world_size": world,
            "backend": dist.get_backend(),
            "our_loss": our_loss,
            "losses": losses,
            "relative_gap": gap,
            "seconds": time.perf_counter() - start,
        }
        print("DDP", json.dumps(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
