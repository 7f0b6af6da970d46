"""Data parallelism: :class:`DistributedDataParallel` over :mod:`chainrule.distributed`."""

from chainrule.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
