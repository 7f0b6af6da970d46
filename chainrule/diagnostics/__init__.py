"""Seeing inside backprop: gradient-flow diagnosis and the chain rule shown step by step.
(Anomaly detection lives in ``chainrule.autograd.detect_anomaly``, next to the engine.)"""

from chainrule.diagnostics.explain import Explanation, explain_step
from chainrule.diagnostics.gradient_flow import Finding, GradientFlowMonitor

__all__ = ["GradientFlowMonitor", "Finding", "explain_step", "Explanation"]
