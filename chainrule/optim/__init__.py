"""Optimizers and learning-rate schedules, under PyTorch's names (``chainrule.optim``).

Each optimizer class holds hyperparameters (``param_groups``) and per-parameter ``state``; its
update is a plain function on NumPy arrays with the equations in its docstring
(``chainrule.optim.sgd``, ``adam``, ``rmsprop``, ``adagrad``).

Example::

    >>> from chainrule.utils.data import DataLoader, TensorDataset
    >>> model, loss_fn = chainrule.nn.Linear(4, 1), chainrule.nn.MSELoss()
    >>> loader = DataLoader(TensorDataset(chainrule.randn(32, 4), chainrule.randn(32, 1)), batch_size=8)
    >>> optimizer = chainrule.optim.Adam(model.parameters(), lr=1e-3)
    >>> scheduler = chainrule.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=50)
    >>> for epoch in range(50):
    ...     for x, y in loader:
    ...         optimizer.zero_grad()
    ...         loss_fn(model(x), y).backward()
    ...         optimizer.step()
    ...     scheduler.step()
    >>> optimizer.param_groups[0]["lr"]          # annealed to eta_min = 0
    0.0
"""

from chainrule.optim import lr_scheduler
from chainrule.optim.adadelta import Adadelta, adadelta
from chainrule.optim.adagrad import Adagrad, adagrad
from chainrule.optim.adam import Adam, adam
from chainrule.optim.adamax import Adamax, adamax
from chainrule.optim.adamw import AdamW
from chainrule.optim.asgd import ASGD, asgd
from chainrule.optim.lbfgs import LBFGS
from chainrule.optim.nadam import NAdam, nadam
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.radam import RAdam, radam
from chainrule.optim.rmsprop import RMSprop, rmsprop
from chainrule.optim.rprop import Rprop, rprop
from chainrule.optim.sgd import SGD, sgd
from chainrule.optim.sparse_adam import SparseAdam

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler",
    "Adamax", "NAdam", "RAdam", "ASGD", "Rprop", "LBFGS", "SparseAdam",
    "sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "radam", "asgd", "rprop",
]
