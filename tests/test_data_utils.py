"""chainrule.utils.data: datasets, samplers, default_collate (against PyTorch's rules) and the
DataLoader (batching, shuffling, the TensorDataset fast path and its memory use)."""

from __future__ import annotations

import collections
import doctest
import itertools
import tracemalloc

import numpy as np
import pytest

import chainrule
import chainrule.utils.data
from chainrule.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    random_split,
)


def _dataset(n=10):
    features = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return TensorDataset(chainrule.tensor(features), np.arange(n))


def _seeded(seed):
    return chainrule.Generator().manual_seed(seed)


def _labels(loader):
    return [batch[1].tolist() for batch in loader]


class Records(Dataset):
    """A map-style dataset of dict samples, fetched one by one."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return {"x": np.full(2, index, dtype=np.float32), "label": index, "weight": index / 2,
                "name": f"item{index}"}


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter([(np.float32(i), i) for i in range(self.n)])

    def __len__(self):
        return self.n


# ------------------------------------------------------------------------ TensorDataset
def test_tensor_dataset_indexes_rows_and_wraps_numpy_without_copy():
    labels = np.arange(10)
    dataset = TensorDataset(chainrule.ones(10, 3), labels)
    assert len(dataset) == 10
    x, y = dataset[4]
    assert x.shape == (3,) and y.item() == 4
    assert isinstance(y, chainrule.Tensor)
    assert np.shares_memory(dataset.tensors[1].numpy(), labels)


def test_tensor_dataset_refuses_mismatched_first_dimensions():
    with pytest.raises(ValueError, match=r"Size mismatch.*\[10, 9\]"):
        TensorDataset(chainrule.ones(10, 3), np.arange(9))
    with pytest.raises(TypeError, match="argument 1 is a list"):
        TensorDataset(chainrule.ones(3), [1, 2, 3])
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(chainrule.tensor(1.0))


# --------------------------------------------------------------------------- batching
def test_batches_in_order_with_a_shorter_last_batch():
    loader = DataLoader(_dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, y = batches[0]
    assert isinstance(batches[0], list)  # default_collate turns the sample tuples into lists
    assert x.shape == (4, 3) and x.dtype == chainrule.float32 and y.dtype == chainrule.int64
    np.testing.assert_array_equal(x.numpy(), np.arange(12, dtype=np.float32).reshape(4, 3))


def test_drop_last_drops_the_partial_batch():
    loader = DataLoader(_dataset(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_is_reproducible_with_a_seeded_generator_and_differs_with_another_seed():
    def order(seed):
        return _labels(DataLoader(_dataset(20), batch_size=6, shuffle=True, generator=_seeded(seed)))

    assert order(7) == order(7)
    assert order(7) != order(8)
    assert order(7) != _labels(DataLoader(_dataset(20), batch_size=6))


def test_shuffle_follows_the_global_seed():
    chainrule.manual_seed(11)
    first = _labels(DataLoader(_dataset(20), batch_size=5, shuffle=True))
    chainrule.manual_seed(11)
    second = _labels(DataLoader(_dataset(20), batch_size=5, shuffle=True))
    assert first == second


def test_each_epoch_visits_every_sample_once_in_a_new_order():
    loader = DataLoader(_dataset(23), batch_size=5, shuffle=True, generator=_seeded(0))
    epochs = [sum(_labels(loader), []) for _ in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(23))
    assert epochs[0] != epochs[1] != epochs[2]


def test_tensor_fast_path_gives_the_same_batches_as_sample_by_sample_collation():
    dataset = _dataset(17)
    subset = Subset(dataset, [16, 3, 5, 8, 1, 0, 9])
    for source in (dataset, subset):
        for shuffle in (False, True):
            fast = DataLoader(source, batch_size=3, shuffle=shuffle, generator=_seeded(1))
            slow = DataLoader(source, batch_size=3, shuffle=shuffle, generator=_seeded(1),
                              collate_fn=lambda samples: default_collate(samples))
            for fast_batch, slow_batch in zip(fast, slow, strict=True):
                assert len(fast_batch) == len(slow_batch) == 2
                for ours, reference in zip(fast_batch, slow_batch):
                    assert ours.dtype == reference.dtype
                    np.testing.assert_array_equal(ours.numpy(), reference.numpy())


def test_a_tensor_dataset_batch_allocates_only_about_a_batch():
    rows, columns = 200_000, 50
    features = np.ones((rows, columns), dtype=np.float32)  # 40 MB
    dataset = TensorDataset(features, np.zeros(rows, dtype=np.int64))
    dataset_bytes = features.nbytes
    for shuffle in (False, True):
        loader = DataLoader(dataset, batch_size=10, shuffle=shuffle, generator=_seeded(0))
        tracemalloc.start()
        try:
            x, y = next(iter(loader))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert x.shape == (10, columns)
        # a shuffled epoch needs its permutation (8 bytes per sample); no copy of the data
        allowed = 100_000 + (8 * rows * 2 if shuffle else 0)
        assert peak < allowed < dataset_bytes / 10, (shuffle, peak)


def test_samples_are_fetched_one_by_one_for_a_generic_dataset():
    calls = []

    class Counting(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, index):
            calls.append(index)
            return np.float32(index), index

    batches = list(DataLoader(Counting(), batch_size=4))
    assert calls == list(range(6))
    assert batches[1][1].tolist() == [4, 5] and batches[1][0].dtype == chainrule.float32


# --------------------------------------------------------------------------- collation
def test_collate_of_dict_samples():
    batch = next(iter(DataLoader(Records(5), batch_size=3)))
    assert set(batch) == {"x", "label", "weight", "name"}
    assert batch["x"].shape == (3, 2) and batch["x"].dtype == chainrule.float32
    assert batch["label"].tolist() == [0, 1, 2] and batch["label"].dtype == chainrule.int64
    assert batch["weight"].dtype == chainrule.float64  # Python floats collate to float64 as in PyTorch
    assert batch["name"] == ["item0", "item1", "item2"]


def test_collate_follows_pytorch_rules():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    Point = collections.namedtuple("Point", ["x", "y"])
    cases = [
        [(np.zeros(3, np.float32), 1, 0.5), (np.ones(3, np.float32), 2, 1.5)],
        [{"a": True, "b": [np.float64(1.0), 2]}, {"a": False, "b": [np.float64(3.0), 4]}],
        [Point(np.int32(1), 2.0), Point(np.int32(3), 4.0)],
        [[np.arange(2), "s"], [np.arange(2), "t"]],
        [np.float32(1.5), np.float32(2.5)],
    ]

    def compare(ours, theirs):
        if isinstance(theirs, torch.Tensor):
            assert isinstance(ours, chainrule.Tensor)
            assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        elif isinstance(theirs, dict):
            assert type(ours) is type(theirs) and set(ours) == set(theirs)
            for key in theirs:
                compare(ours[key], theirs[key])
        elif isinstance(theirs, list | tuple) and not isinstance(theirs[0], str):
            assert type(ours) is type(theirs) and len(ours) == len(theirs)
            for mine, reference in zip(ours, theirs):
                compare(mine, reference)
        else:
            assert ours == theirs

    for samples in cases:  # NumPy arrays, numbers and strings: PyTorch takes the same samples
        compare(default_collate(samples), torch_collate(samples))


def test_collate_refuses_unequal_shapes_and_unknown_types():
    with pytest.raises(RuntimeError, match=r"equal size.*\(2,\), \(3,\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="found <class 'NoneType'>"):
        default_collate([None, None])


def test_collate_keeps_the_graph_of_samples_that_require_grad():
    first = chainrule.ones(2, requires_grad=True)
    batch = default_collate([first, first * 3.0])
    batch.sum().backward()
    np.testing.assert_array_equal(first.grad.numpy(), [4.0, 4.0])


def test_default_convert_and_batch_size_none():
    converted = default_convert((np.zeros(2), {"k": np.int64(3)}, "text"))
    assert isinstance(converted, list) and isinstance(converted[0], chainrule.Tensor)
    assert converted[1]["k"].item() == 3 and converted[2] == "text"
    samples = list(DataLoader(_dataset(3), batch_size=None))
    assert len(samples) == 3 and samples[2][1].item() == 2 and samples[2][0].shape == (3,)


# --------------------------------------------------------------------------- samplers
def test_samplers_and_custom_batch_sampler():
    assert list(BatchSampler(SequentialSampler(range(5)), 2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]]
    with_replacement = list(RandomSampler(range(4), replacement=True, num_samples=9, generator=_seeded(0)))
    assert len(with_replacement) == 9 and set(with_replacement) <= {0, 1, 2, 3}
    longer = list(RandomSampler(range(4), num_samples=10, generator=_seeded(0)))
    assert sorted(longer[:4]) == sorted(longer[4:8]) == [0, 1, 2, 3] and len(longer) == 10
    assert sorted(SubsetRandomSampler([7, 3, 5], generator=_seeded(2))) == [3, 5, 7]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 0.0, 1.0], num_samples=50, generator=_seeded(0)))
    assert set(weighted) == {1, 3}

    loader = DataLoader(_dataset(6), batch_sampler=[[5, 0], [2, 2, 3]])
    assert _labels(loader) == [[5, 0], [2, 2, 3]]
    loader = DataLoader(_dataset(6), sampler=[4, 1, 3], batch_size=2)
    assert _labels(loader) == [[4, 1], [3]]


def test_sampler_arguments_are_checked():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], num_samples=2, replacement=False)


# --------------------------------------------------------------------------- datasets
def test_random_split_sizes_disjoint_and_reproducible():
    dataset = _dataset(10)
    parts = random_split(dataset, [3, 7], generator=_seeded(0))
    assert [len(part) for part in parts] == [3, 7]
    indices = [set(part.indices) for part in parts]
    assert indices[0].isdisjoint(indices[1]) and indices[0] | indices[1] == set(range(10))
    again = random_split(dataset, [3, 7], generator=_seeded(0))
    assert [part.indices for part in again] == [part.indices for part in parts]
    other = random_split(dataset, [3, 7], generator=_seeded(1))
    assert [part.indices for part in other] != [part.indices for part in parts]
    # a split is a dataset of the chosen samples
    assert parts[0][0][1].item() == parts[0].indices[0]


def test_random_split_with_fractions_matches_pytorch_sizes():
    torch = pytest.importorskip("torch")
    cases = [(10, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (7, [0.1, 0.2, 0.7]), (100, [0.8, 0.2])]
    for total, fractions in cases:
        ours = random_split(range(total), fractions, generator=_seeded(0))
        theirs = torch.utils.data.random_split(range(total), fractions)
        assert [len(part) for part in ours] == [len(part) for part in theirs]


def test_random_split_refuses_lengths_that_do_not_add_up():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(_dataset(10), [3, 3])
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(_dataset(10), [0.5, 0.4])


def test_concat_and_subset():
    both = ConcatDataset([_dataset(3), _dataset(4)])
    assert len(both) == 7 and both.cumulative_sizes == [3, 7]
    assert both[3][1].item() == 0 and both[-1][1].item() == 3
    with pytest.raises(ValueError, match="should not exceed dataset length"):
        both[-8]
    assert len(_dataset(2) + _dataset(5)) == 7
    subset = Subset(_dataset(5), [4, 2])
    assert len(subset) == 2 and subset[0][1].item() == 4
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])


def test_iterable_dataset_batches_in_stream_order():
    loader = DataLoader(Stream(7), batch_size=3)
    batches = list(loader)
    assert len(loader) == 3
    assert [batch[1].tolist() for batch in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches[0][0].dtype == chainrule.float32
    assert len(list(DataLoader(Stream(7), batch_size=3, drop_last=True))) == 2
    chained = DataLoader(ChainDataset([Stream(2), Stream(1)]), batch_size=2)
    assert [batch[1].tolist() for batch in chained] == [[0, 1], [0]]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)


# ----------------------------------------------------------------------- loader options
def test_num_workers_run_in_process_with_the_same_batches():
    ours = _labels(DataLoader(_dataset(9), batch_size=4, num_workers=2, shuffle=True, generator=_seeded(3),
                              persistent_workers=True, prefetch_factor=2, pin_memory=True))
    reference = _labels(DataLoader(_dataset(9), batch_size=4, shuffle=True, generator=_seeded(3)))
    assert ours == reference


@pytest.mark.parametrize("kwargs,message", [
    (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "mutually exclusive with drop_last"),
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
])
def test_loader_refuses_conflicting_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(_dataset(4), **kwargs)


@pytest.mark.parametrize("module_name", ["collate", "sampler", "dataloader"])
def test_docstring_examples(module_name):
    package = chainrule.utils.data
    module = getattr(package, module_name)
    globs = {"np": np, "chainrule": chainrule, **{name: getattr(package, name) for name in package.__all__}}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = doctest.DocTestFinder().find(module, globs=globs)
    assert sum(len(test.examples) for test in tests) >= 3
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


def test_random_sampler_with_replacement_draws_lazily(monkeypatch):
    """num_samples=10**10 (80 GB of indices) starts at once and yields valid indices; the
    draws come in chunks, so an epoch is never one array (the chunk is made small here to see
    batches cross chunk boundaries)."""
    from chainrule.utils.data import sampler as sampler_module

    monkeypatch.setattr(sampler_module, "_CHUNK", 7)
    sampler = RandomSampler(range(100), replacement=True, num_samples=10**10,
                            generator=chainrule.Generator().manual_seed(0))
    assert len(sampler) == 10**10
    first = list(itertools.islice(iter(sampler), 20))
    assert all(0 <= index < 100 for index in first) and len(set(first)) > 5
    batches = BatchSampler(sampler, batch_size=3, drop_last=False)
    assert len(batches) == -(-10**10 // 3)
    head = list(itertools.islice(iter(batches), 10))
    assert all(len(batch) == 3 for batch in head)
    loader = DataLoader(TensorDataset(chainrule.arange(100)), sampler=sampler, batch_size=4)
    (batch,) = next(iter(loader))
    assert batch.shape == (4,)


def test_chunked_batches_are_the_sampler_order_cut_into_batches(monkeypatch):
    from chainrule.utils.data import sampler as sampler_module

    monkeypatch.setattr(sampler_module, "_CHUNK", 5)
    for replacement in (True, False):
        for drop_last in (True, False):
            sampler = RandomSampler(range(6), replacement=replacement, num_samples=23)
            chainrule.manual_seed(3)
            order = list(sampler)
            chainrule.manual_seed(3)
            batches = list(BatchSampler(sampler, batch_size=4, drop_last=drop_last))
            expected = [order[i:i + 4] for i in range(0, 23, 4)]
            assert batches == (expected[:-1] if drop_last else expected)
