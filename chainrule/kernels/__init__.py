"""Fused loops compiled by numba (see ``chainrule.backends.numba``), one module per op family.

Each kernel computes exactly what the NumPy path of its op computes; the op chooses between
them with ``chainrule.backends.numba.handles(...)``. Loops over windows are compiled per window
geometry, the tuple below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainrule.window import Window

Geometry = tuple[int, int, int, int, int, int]
"""A sliding window's kernel size, stride and dilation: (kh, kw, sh, sw, dh, dw)."""


def geometry(window: Window) -> Geometry:
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.stride, window.dilation
    return kh, kw, sh, sw, dh, dw


def windows_disjoint(geometry: Geometry) -> bool:
    """True when no element is in two windows (e.g. 2x2 windows with stride 2)."""
    kh, kw, sh, sw, dh, dw = geometry
    return sh >= dh * (kh - 1) + 1 and sw >= dw * (kw - 1) + 1
