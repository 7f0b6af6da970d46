"""Seeing inside backprop: gradient-flow diagnosis, overfitting detection and the chain rule
shown step by step. (Anomaly detection lives in ``chainrule.autograd.detect_anomaly``, next to
the engine.)"""

from typing import Any

from chainrule.diagnostics.explain import Explanation, explain_step
from chainrule.diagnostics.gradient_flow import Finding, GradientFlowMonitor
from chainrule.diagnostics.overfitting import detect_overfitting

__all__ = [
    "Explanation",
    "Finding",
    "GradientFlowMonitor",
    "OverfittingMonitor",
    "detect_overfitting",
    "explain_step",
]


def __getattr__(name: str) -> Any:
    # OverfittingMonitor is a trainer callback, so it lives in chainrule.train (a layer above
    # this package); it stays reachable here, imported only when asked for.
    if name == "OverfittingMonitor":
        from chainrule.train.callbacks.overfitting import OverfittingMonitor

        return OverfittingMonitor
    raise AttributeError(f"module 'chainrule.diagnostics' has no attribute {name!r}")
