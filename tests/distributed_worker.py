"""One process of tests/test_distributed.py's ``mpiexec -n 2`` job (not collected by pytest).

Every check runs in this one launch (each launch pays for starting Python and importing
chainrule twice): the collectives, DistributedSampler's partition, DistributedDataParallel's
equivalence with one process over the whole batch, no_sync, resume, a shared divergence and
forward-forward's averaged layer-local gradients. Each process prints
``rank R: all checks passed``; then rank 1 raises while rank 0 waits in a barrier, and the job
must end with a nonzero status instead of hanging.
"""

from __future__ import annotations

import numpy as np

import chainrule
import chainrule.distributed as dist
from chainrule import nn, optim
from chainrule.nn.parallel import DistributedDataParallel
from chainrule.utils.data import DataLoader, TensorDataset
from chainrule.utils.data.distributed import DistributedSampler

STEPS, LOCAL_BATCH = 20, 64


def check_collectives(rank: int, size: int) -> None:
    t = chainrule.tensor([1.0, 2.0], dtype=chainrule.float64) * (rank + 1)
    dist.all_reduce(t)
    assert t.tolist() == [3.0, 6.0], t
    t = chainrule.tensor([float(rank)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    assert t.tolist() == [1.0], t
    t = chainrule.tensor([float(rank + 1)], dtype=chainrule.float64)
    dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True).wait()
    assert t.tolist() == [1.5], t
    t = chainrule.arange(6).reshape(2, 3).t()  # not contiguous: reduced through a copy
    dist.all_reduce(t)
    assert t.tolist() == [[0, 6], [2, 8], [4, 10]], t
    t = chainrule.full((3,), float(rank))
    dist.broadcast(t, src=1)
    assert t.tolist() == [1.0, 1.0, 1.0], t
    gathered = [chainrule.zeros(2, dtype=chainrule.int64) for _ in range(size)]
    dist.all_gather(gathered, chainrule.tensor([rank, 10 * rank]))
    assert [g.tolist() for g in gathered] == [[0, 0], [1, 10]], gathered
    dist.barrier()


def check_sampler(rank: int, size: int) -> None:
    dataset = range(103)
    sampler = DistributedSampler(dataset, seed=7)  # world size and rank from the group
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        mine = chainrule.tensor(list(sampler), dtype=chainrule.int64)
        everyone = [chainrule.zeros(len(sampler), dtype=chainrule.int64) for _ in range(size)]
        dist.all_gather(everyone, mine)
        alone = list(DistributedSampler(dataset, num_replicas=1, rank=0, seed=7))
        if epoch == 1:
            alone = list(DistributedSampler(dataset, num_replicas=1, rank=0, seed=8))
        # 103 = 2 * 51 + 1: the order is padded with its first index to 104
        interleaved = np.stack([e.numpy() for e in everyone], axis=1).reshape(-1).tolist()
        assert interleaved == alone + alone[:1], (epoch, interleaved[:8], alone[:8])
        assert sorted(set(interleaved)) == list(range(103))


def make_model() -> nn.Module:
    chainrule.manual_seed(0)
    return nn.Sequential(
        nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 3)
    ).double()


def train(model: nn.Module, loader: DataLoader, sampler: DistributedSampler) -> None:
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    steps, epoch = 0, 0
    while steps < STEPS:
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
            steps += 1
            if steps == STEPS:
                return
        epoch += 1


def check_equivalence(rank: int, size: int) -> None:
    """2 processes x batch 64 after 20 steps equal 1 process x batch 128, same data order."""
    generator = np.random.default_rng(0)
    x = chainrule.from_numpy(generator.normal(size=(1000, 10)))
    y = chainrule.from_numpy(generator.integers(0, 3, 1000))
    dataset = TensorDataset(x, y)

    sampler = DistributedSampler(dataset, seed=3, drop_last=True)
    parallel = DistributedDataParallel(make_model(), bucket_cap_mb=0.002)  # 2 KB: several buckets
    assert len(parallel._reducer.buckets) > 2, parallel._reducer.buckets
    train(parallel, DataLoader(dataset, batch_size=LOCAL_BATCH, sampler=sampler), sampler)

    single_sampler = DistributedSampler(dataset, num_replicas=1, rank=0, seed=3, drop_last=True)
    single = make_model()
    train(single, DataLoader(dataset, batch_size=LOCAL_BATCH * size, sampler=single_sampler), single_sampler)

    for (name, p), q in zip(parallel.module.named_parameters(), single.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    moved = np.abs(single[0].weight.numpy() - make_model()[0].weight.numpy()).max()
    assert moved > 1e-2, moved  # training did change the weights


def check_uneven_shards(rank: int, size: int) -> None:
    """BatchShards splits a batch of 7 as 4 + 3 and weights each process's gradient by its
    share, so the average is the whole batch's gradient."""
    from chainrule.train.distributed import BatchShards

    generator = np.random.default_rng(2)
    x, y = generator.normal(size=(7, 10)), generator.integers(0, 3, 7)
    dataset = TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y))
    parallel = DistributedDataParallel(make_model())
    for x, y in BatchShards(DataLoader(dataset, batch_size=7), rank, size, parallel._reducer):
        assert len(x) == (4, 3)[rank], len(x)
        nn.CrossEntropyLoss()(parallel(x), y).backward()
    single = make_model()
    nn.CrossEntropyLoss()(single(dataset.tensors[0]), dataset.tensors[1]).backward()
    for p, q in zip(parallel.module.parameters(), single.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-15)


def check_no_sync(rank: int, size: int) -> None:
    parallel = DistributedDataParallel(make_model())
    inputs = [chainrule.full((2, 10), float(rank + step), dtype=chainrule.float64) for step in range(2)]
    with parallel.no_sync():
        parallel(inputs[0]).sum().backward()
    local = parallel.module[0].bias.grad.numpy().copy()
    parallel(inputs[1]).sum().backward()

    reference = make_model()
    for r in range(size):
        for step in range(2):
            reference(chainrule.full((2, 10), float(r + step), dtype=chainrule.float64)).sum().backward()
    np.testing.assert_allclose(
        parallel.module[0].bias.grad.numpy(), reference[0].bias.grad.numpy() / size, rtol=1e-12
    )
    assert not np.allclose(local * size, reference[0].bias.grad.numpy())  # no_sync kept it local


def check_resume(rank: int, size: int) -> None:
    """A data-parallel Trainer resumed from its epoch-1 checkpoint ends epoch 2 with the very
    weights of an uninterrupted run (dropout draws differ per process and are reproduced), and
    the checkpoint refuses a job of another size."""
    import tempfile
    from pathlib import Path

    from chainrule.errors import ConfigError
    from chainrule.train.callbacks import ModelCheckpoint
    from chainrule.train.distributed import DataParallel, DataParallelTrainer, check_resume_processes

    parallel = DataParallel()
    folder = Path(parallel.share(tempfile.mkdtemp() if rank == 0 else None))
    generator = np.random.default_rng(1)
    x = chainrule.from_numpy(generator.normal(size=(90, 6)).astype(np.float32))
    y = chainrule.from_numpy(generator.integers(0, 2, 90))

    def fit(epochs: int, resume: bool) -> DataParallelTrainer:
        chainrule.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
        optimizer = optim.Adam(model.parameters(), lr=0.01)
        trainer = DataParallelTrainer(parallel, model, nn.CrossEntropyLoss(), optimizer, config={"seed": 0})
        loader = DataLoader(
            TensorDataset(x, y), batch_size=21, shuffle=True, generator=chainrule.Generator().manual_seed(0)
        )
        callbacks = [ModelCheckpoint(folder, "checkpoint.safetensors")] if rank == 0 else []
        checkpoint = folder / "checkpoint.safetensors"
        trainer.fit(
            trainer.shard(loader),
            epochs=epochs,
            callbacks=callbacks,
            verbose=0,
            resume_from=checkpoint if resume else None,
        )
        return trainer

    fit(1, resume=False)
    dist.barrier()  # the checkpoint is written before anyone reads it
    resumed = fit(2, resume=True)
    dist.barrier()
    uninterrupted = fit(2, resume=False)
    for p, q in zip(resumed.model.parameters(), uninterrupted.model.parameters()):
        assert np.array_equal(p.numpy(), q.numpy()), "resumed run differs"
    try:
        check_resume_processes(folder / "checkpoint.safetensors", 3)
    except ConfigError as error:
        assert "trained by 2 processes" in str(error), error
    else:
        raise AssertionError("a checkpoint of 2 processes was accepted by 3")
    dist.barrier()


def check_divergence_is_shared(rank: int, size: int) -> None:
    """A divergence seen by rank 1 alone stops both processes, and both know where."""
    from chainrule.train.callbacks import Callback, Divergence
    from chainrule.train.distributed import DataParallel, DataParallelTrainer

    class DivergeOnRankOne(Callback):
        def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if rank == 1 and batch == 1:
                self.trainer.divergence = Divergence(1, 2, float("nan"), 0.1, "the loss became nan")
                self.trainer.stop_training = True

    model = nn.Linear(3, 2)
    trainer = DataParallelTrainer(
        DataParallel(), model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1)
    )
    data = TensorDataset(chainrule.randn(40, 3), chainrule.randint(0, 2, (40,)))
    history = trainer.fit(
        trainer.shard(DataLoader(data, batch_size=8)), epochs=3, callbacks=[DivergeOnRankOne()], verbose=0
    )
    assert len(history) == 1 and trainer.stop_training, (len(history), trainer.stop_training)
    assert trainer.divergence is not None and trainer.divergence.step == 2, trainer.divergence


def check_forward_forward(rank: int, size: int) -> None:
    """Forward-forward under data parallelism: each process's layer-local gradients are averaged
    as backprop's are, so the processes' weights stay equal although they see different data."""
    from chainrule.train.distributed import DataParallel, DataParallelTrainer

    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    initial = model[0].weight.numpy().copy()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    trainer = DataParallelTrainer(DataParallel(), model, nn.CrossEntropyLoss(), optimizer, learning_rule="ff")
    generator = np.random.default_rng(2)
    x = chainrule.from_numpy(generator.normal(size=(64, 12)).astype(np.float32))
    y = chainrule.from_numpy(generator.integers(0, 3, 64))
    trainer.fit(trainer.shard(DataLoader(TensorDataset(x, y), batch_size=16)), epochs=1, verbose=0)
    for name, parameter in model.named_parameters():
        rank_zeros = chainrule.from_numpy(parameter.numpy().copy())
        dist.broadcast(rank_zeros, src=0)
        assert np.array_equal(rank_zeros.numpy(), parameter.numpy()), f"ff: {name} differs between processes"
    assert np.abs(model[0].weight.numpy() - initial).max() > 1e-3  # the hidden layer did learn


def main() -> None:
    chainrule.backends.numba.enabled = False  # compiling its SGD kernel would cost more than all else
    dist.init_process_group(backend="mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    assert size == 2, size
    check_collectives(rank, size)
    check_sampler(rank, size)
    check_equivalence(rank, size)
    check_uneven_shards(rank, size)
    check_no_sync(rank, size)
    check_resume(rank, size)
    check_divergence_is_shared(rank, size)
    check_forward_forward(rank, size)
    print(f"rank {rank}: all checks passed", flush=True)
    dist.barrier()
    if rank == 1:
        raise RuntimeError("planted failure on rank 1")
    dist.barrier()  # rank 1 never arrives: only aborting the job ends this


if __name__ == "__main__":
    main()
