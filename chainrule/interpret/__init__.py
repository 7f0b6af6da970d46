"""Attributions: which input features a model's output depends on, from the engine's gradients.

``saliency``, ``input_x_gradient``, ``integrated_gradients`` (with its completeness gap) and
``smoothgrad``; ``rank_features`` turns tabular attributions into a ranked table.
"""

from chainrule.interpret.attributions import (
    IntegratedGradients,
    input_x_gradient,
    integrated_gradients,
    rank_features,
    saliency,
    smoothgrad,
)

__all__ = ["saliency", "input_x_gradient", "integrated_gradients", "IntegratedGradients",
           "smoothgrad", "rank_features"]
