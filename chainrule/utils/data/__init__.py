"""Datasets, samplers and the DataLoader, under PyTorch's path ``chainrule.utils.data``.

Example::

    >>> from chainrule.utils.data import DataLoader, TensorDataset, random_split
    >>> features, labels = chainrule.randn(100, 3), chainrule.randint(0, 2, (100,))
    >>> dataset = TensorDataset(features, labels)
    >>> train, val = random_split(dataset, [0.8, 0.2], generator=chainrule.Generator().manual_seed(0))
    >>> for x, y in DataLoader(train, batch_size=32, shuffle=True):
    ...     print(x.shape, y.shape)
    (32, 3) (32,)
    (32, 3) (32,)
    (16, 3) (16,)
"""

from chainrule.utils.data.collate import default_collate, default_convert
from chainrule.utils.data.dataloader import DataLoader, get_worker_info
from chainrule.utils.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from chainrule.utils.data.distributed import DistributedSampler
from chainrule.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
    "random_split", "DataLoader", "default_collate", "default_convert", "get_worker_info",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler",
    "DistributedSampler",
]
from chainrule.utils.data import transforms  # noqa: E402,F401  (the augmentations, as a submodule)
