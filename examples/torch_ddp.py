#!/usr/bin/env python3
"""Data-parallel PyTorch training from one HDF5 file, each rank streaming its own shard.

    torchrun --nproc_per_node 2 examples/torch_ddp.py --data train.h5
    torchrun --nproc_per_node 2 examples/torch_ddp.py --make-data demo.h5   # rank 0 writes it first
    # or without torchrun (Debian's torch 1.13 torchrun fails on Python 3.11), one line per rank:
    MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 WORLD_SIZE=2 RANK=0 python3 examples/torch_ddp.py ... &

Backend gloo (CPU, one machine). Rank r reads shard r of world_size with shard(world, rank,
equal=True): an HDF5 source reads only its own blocks (block b belongs to shard b % world), and
equal=True cuts every shard to the shortest one's length, so every rank runs the same number of
batches per epoch and no all-reduce waits for a rank that has run out (the rows beyond that
length, at most one block per rank, are skipped that epoch; with shuffle_blocks a different set
each epoch). Rank 0 prints the metrics, all-reduced over ranks.
"""
import argparse
import time

import torch
import torch.distributed as dist

import stoker

from torch_train import make_data


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data")
    p.add_argument("--make-data", metavar="PATH")
    p.add_argument("--make-rows", type=int, default=4396, help="rows of --make-data (not a multiple of blocks)")
    p.add_argument("--images", default="/train/images")
    p.add_argument("--labels", default="/train/labels")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=64, help="per rank")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--threads", type=int, default=1, help="stoker threads per rank")
    args = p.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.make_data:
        if rank == 0:
            make_data(args.make_data, n=args.make_rows)
        dist.barrier()
        args.data = args.make_data

    ds = (stoker.hdf5(args.data, images=args.images, labels=args.labels, shuffle_blocks=True, block_rows=256)
                .shard(world, rank, equal=True)
                .shuffle(1024)
                .batch(args.batch, drop_remainder=True)
                .prefetch(2))
    batches = ds.cardinality()
    first, _ = next(ds.take(1).iterator(threads=1))
    classes = 0
    for (labels,) in stoker.hdf5(args.data, datasets=[args.labels]).batch(1 << 16).iterator(threads=1):
        classes = max(classes, int(torch.from_dlpack(labels).max()) + 1)

    torch.manual_seed(0)  # same initial weights on every rank
    in_features = int(torch.tensor(first.shape[1:]).prod())
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_features, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, classes))
    model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sent = []  # every tensor handed to a collective, kept until the group is destroyed (see the end)
    for epoch in range(args.epochs):
        t0, steps = time.perf_counter(), 0
        totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, samples
        # Same seed on every rank: the shard's shuffle differs by its data, not by the seed.
        for images, labels in ds.iterator(threads=args.threads, memory_budget="256M", seed=epoch):
            x = torch.from_dlpack(images).float().div_(255)
            y = torch.from_dlpack(labels).long()
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()  # DDP all-reduces the gradients here: every rank must take this step
            opt.step()
            steps += 1
            totals += torch.tensor([float(loss) * len(y), float((logits.argmax(1) == y).sum()), len(y)],
                                   dtype=torch.float64)
        step_counts = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
        steps_t = torch.tensor([steps])
        dist.all_gather(step_counts, steps_t)
        dist.all_reduce(totals)
        sent += [steps_t, totals, *step_counts]
        if rank == 0:
            print(f"epoch {epoch + 1}: loss {totals[0] / totals[2]:.4f} accuracy {totals[1] / totals[2]:.4f} "
                  f"steps per rank {[int(c) for c in step_counts]} (expected {batches}), "
                  f"{totals[2] / (time.perf_counter() - t0):.0f} samples/s", flush=True)
    # Teardown order (torch 1.13's gloo, seen to hang at exit otherwise): the process group's
    # destructor joins its worker threads holding the GIL, and a worker that drops the last
    # reference to a tensor with a Python object needs the GIL. So the DDP model goes first (its
    # reducer must not hold the last reference to the group), and the tensors sent to collectives
    # stay referenced until the group is gone.
    del model, opt
    dist.destroy_process_group()
    del sent


if __name__ == "__main__":
    main()
