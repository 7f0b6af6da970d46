"""Random numbers: chainrule's default generator, ``Generator`` objects, and their state.

Everything random in chainrule (``rand``, ``randn``, ``nn.init``, dropout, shuffling) draws from
a NumPy ``Generator``: the one of a ``chainrule.Generator`` passed as ``generator=``, or the
process's default one, which ``manual_seed`` replaces. Code that draws calls
``numpy_generator(generator)`` at every draw, never keeping the result, so a later
``manual_seed`` takes effect (as PyTorch's ``torch.random``).

Example::

    >>> import chainrule
    >>> _ = chainrule.manual_seed(0)
    >>> first = chainrule.random.numpy_generator().random()
    >>> _ = chainrule.manual_seed(0)
    >>> first == chainrule.random.numpy_generator().random()
    True
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chainrule.tensor import Tensor


class _DefaultState:
    """The process's default generator and the seed it was made from."""

    generator = np.random.default_rng(0)
    seed = 0


def numpy_generator(generator: Generator | np.random.Generator | None = None) -> np.random.Generator:
    """The NumPy generator a draw uses: ``generator``'s own, or chainrule's default one when
    it is None. A NumPy generator passes through unchanged."""
    if generator is None:
        return _DefaultState.generator
    if isinstance(generator, np.random.Generator):
        return generator
    return generator._numpy()


def manual_seed(seed: int) -> Generator:
    """Seed chainrule's default generator (used by rand, randn, init, dropout, shuffling, ...)."""
    _DefaultState.generator = np.random.default_rng(seed)
    _DefaultState.seed = seed
    return default_generator


def initial_seed() -> int:
    """The seed the default generator was last seeded with."""
    return _DefaultState.seed


def seed() -> int:
    """Seed the default generator from the operating system's entropy; returns the seed."""
    entropy = np.random.SeedSequence().entropy  # an int when drawn from the OS
    assert isinstance(entropy, int)
    new_seed = entropy % (2**63)
    manual_seed(new_seed)
    return new_seed


def get_rng_state() -> Tensor:
    """The default generator's full state, as a uint8 tensor (to restore with set_rng_state)."""
    return _as_tensor(state_to_bytes(_DefaultState.generator))


def set_rng_state(state: Any) -> None:
    """Restore the default generator from ``get_rng_state()``'s result."""
    _DefaultState.generator = generator_from_state(state)


def state_to_bytes(generator: np.random.Generator) -> np.ndarray:
    """A NumPy generator's state as uint8 bytes (JSON), shape (n,)."""
    state = generator.bit_generator.state
    return np.frombuffer(json.dumps(state).encode(), dtype=np.uint8).copy()


# The bit generators a saved state may name: a state comes from a file, so its name is looked
# up here, never with getattr on np.random (which would call whatever the file names).
_BIT_GENERATORS = {
    name: getattr(np.random, name) for name in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
}


def generator_from_state(state: Any) -> np.random.Generator:
    """A NumPy generator rebuilt from ``state_to_bytes``'s bytes (a uint8 tensor or array).

    Raises ValueError, in one sentence, when the bytes are not such a state (a damaged or
    edited file): nothing in them is executed or trusted unchecked.
    """
    data = np.asarray(state, dtype=np.uint8)
    try:
        fields = json.loads(data.tobytes().decode())
        name = fields["bit_generator"] if isinstance(fields, dict) else None
        if not isinstance(name, str) or name not in _BIT_GENERATORS:
            raise ValueError(f"bit generator {name!r} is not one of {', '.join(_BIT_GENERATORS)}")
        bit_generator = _BIT_GENERATORS[name]()
        bit_generator.state = fields
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as error:
        # UnicodeDecodeError and JSONDecodeError are ValueErrors.
        raise ValueError(f"not a random-number generator state saved by chainrule ({error})") from None
    return np.random.Generator(bit_generator)


class Generator:
    """A seedable source of random numbers, as ``torch.Generator`` (pass it as ``generator=``
    to rand, randn, randperm, nn.init, DataLoader's shuffling, ``random_split``).

    Example::

        >>> g = chainrule.Generator().manual_seed(3)
        >>> chainrule.rand(2, generator=g).shape
        (2,)
    """

    def __init__(self, device: str = "cpu") -> None:
        self.rng = np.random.default_rng(0)
        self._seed = 0
        self._is_default = False

    @classmethod
    def _default(cls) -> Generator:
        generator = cls()
        generator._is_default = True
        return generator

    def _numpy(self) -> np.random.Generator:
        return _DefaultState.generator if self._is_default else self.rng

    def manual_seed(self, seed: int) -> Generator:
        if self._is_default:
            manual_seed(seed)
        else:
            self.rng = np.random.default_rng(seed)
            self._seed = seed
        return self

    def initial_seed(self) -> int:
        return _DefaultState.seed if self._is_default else self._seed

    def get_state(self) -> Tensor:
        return _as_tensor(state_to_bytes(self._numpy()))

    def set_state(self, state: Any) -> Generator:
        generator = generator_from_state(state)
        if self._is_default:
            _DefaultState.generator = generator
        else:
            self.rng = generator
        return self


default_generator = Generator._default()


def _as_tensor(array: np.ndarray) -> Tensor:
    # Imported here: chainrule.tensor draws from this module, which must load first.
    from chainrule.tensor import Tensor

    return Tensor._wrap(array)
