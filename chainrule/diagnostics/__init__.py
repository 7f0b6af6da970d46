"""Seeing inside backprop: gradient-flow diagnosis, overfitting detection and the chain rule
shown step by step. (Anomaly detection lives in ``chainrule.autograd.detect_anomaly``, next to
the engine.)"""

from chainrule.diagnostics.explain import Explanation, explain_step
from chainrule.diagnostics.gradient_flow import Finding, GradientFlowMonitor
from chainrule.diagnostics.overfitting import OverfittingMonitor, detect_overfitting

__all__ = [
    "Explanation",
    "Finding",
    "GradientFlowMonitor",
    "OverfittingMonitor",
    "detect_overfitting",
    "explain_step",
]
