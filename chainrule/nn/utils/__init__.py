"""``chainrule.nn.utils``: gradient clipping, parameter/vector conversion, and ``rnn``
(padded and packed sequences)."""

from chainrule.nn.utils import rnn  # noqa: F401
from chainrule.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from chainrule.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["rnn", "clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]
