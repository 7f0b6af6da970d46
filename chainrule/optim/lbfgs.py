"""L-BFGS: a quasi-Newton method that builds its curvature model from the last few steps and
gradient changes (Liu & Nocedal, 1989), with an optional strong-Wolfe line search (Nocedal &
Wright, *Numerical Optimization*, 2nd ed., algorithms 3.5 and 3.6).

Unlike the other optimizers, ``step(closure)`` needs the closure: one step runs up to
``max_iter`` iterations, each re-evaluating the loss and its gradient.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.errors import InputError
from chainrule.optim.optimizer import Optimizer, ParamsT, _check_lr, _hyper
from chainrule.tensor import Tensor

Objective = Callable[[float], tuple[float, np.ndarray]]


def two_loop_direction(
    flat_grad: np.ndarray,
    old_dirs: list[np.ndarray],
    old_stps: list[np.ndarray],
    ro: list[float],
    h_diag: float,
    al: list[Any],
) -> np.ndarray:
    """The quasi-Newton direction d = −H g by the two-loop recursion (Nocedal & Wright, alg. 7.4).

    With sᵢ the past steps, yᵢ the gradient changes, ρᵢ = 1 / (yᵢ·sᵢ) and the initial inverse
    Hessian γ I (γ = ``h_diag``)::

        q ← −g;  for i newest → oldest:  αᵢ = ρᵢ sᵢ·q,  q ← q − αᵢ yᵢ
        r ← γ q; for i oldest → newest:  βᵢ = ρᵢ yᵢ·r,  r ← r + (αᵢ − βᵢ) sᵢ

    ``al`` receives the αᵢ (kept in the state, as PyTorch does). Shapes: all vectors (n,).

    Example::

        >>> two_loop_direction(np.array([2.0, -1.0]), [], [], [], 0.5, [])  # no history: −γ g
        array([-1. ,  0.5])
    """
    q = -flat_grad
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = float(old_stps[i] @ q) * ro[i]
        q = q - al[i] * old_dirs[i]
    direction = q * h_diag
    for i in range(len(old_dirs)):
        beta = float(old_dirs[i] @ direction) * ro[i]
        direction += (al[i] - beta) * old_stps[i]
    return direction


def cubic_minimizer(
    x1: float,
    f1: float,
    g1: float,
    x2: float,
    f2: float,
    g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clipped to
    ``bounds`` (default: between x1 and x2); the bounds' midpoint when the cubic has none
    (Nocedal & Wright, eq. 3.59).

    Example::

        >>> cubic_minimizer(0.0, 1.0, -2.0, 2.0, 1.0, 2.0)   # (x − 1)² sampled at 0 and 2
        1.0
    """
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = d2_square**0.5
    if x1 <= x2:
        minimum = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        minimum = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(minimum, low), high)


def strong_wolfe(
    objective: Objective,
    t: float,
    direction: np.ndarray,
    loss: float,
    flat_grad: np.ndarray,
    gtd: float,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, np.ndarray, float, int]:
    """A step length t along ``direction`` meeting the strong Wolfe conditions

        f(x + t d) ≤ f(x) + c1 t g·d   and   |g(x + t d)·d| ≤ c2 |g·d|,

    found by bracketing (growing t by cubic extrapolation) then zooming (cubic interpolation,
    kept away from the bracket's ends). ``objective(t)`` gives the loss and flat gradient at
    x + t d. Returns (loss, gradient, t, evaluations).
    """
    d_norm = float(np.abs(direction).max())
    new_loss, new_grad = objective(t)
    evaluations, new_gtd = 1, float(new_grad @ direction)
    prev_t, prev_loss, prev_grad, prev_gtd = 0.0, loss, flat_grad, gtd
    done, ls_iter = False, 0
    bracket: list[list[Any]]  # [t, loss, gradient, directional derivative] at both ends
    while ls_iter < max_ls:
        sufficient_decrease = new_loss <= loss + c1 * t * gtd and not (ls_iter > 1 and new_loss >= prev_loss)
        if sufficient_decrease and abs(new_gtd) <= -c2 * gtd:
            bracket, done = [[t, new_loss, new_grad, new_gtd]], True
            break
        if not sufficient_decrease or new_gtd >= 0:  # overshot: the minimiser is behind t
            bracket = [[prev_t, prev_loss, prev_grad, prev_gtd], [t, new_loss, new_grad, new_gtd]]
            break
        # still descending steeply: extrapolate to a longer step
        next_t = cubic_minimizer(
            prev_t, prev_loss, prev_gtd, t, new_loss, new_gtd, bounds=(t + 0.01 * (t - prev_t), t * 10)
        )
        prev_t, prev_loss, prev_grad, prev_gtd = t, new_loss, new_grad, new_gtd
        t = next_t
        new_loss, new_grad = objective(t)
        evaluations, new_gtd, ls_iter = evaluations + 1, float(new_grad @ direction), ls_iter + 1
    else:
        bracket = [[0.0, loss, flat_grad, gtd], [t, new_loss, new_grad, new_gtd]]

    # zoom: bracket[low] is the best point so far, the minimiser lies between the two ends
    insufficient_progress = False
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1][0] - bracket[0][0]) * d_norm < tolerance_change:
            break
        (t_a, f_a, _, gtd_a), (t_b, f_b, _, gtd_b) = bracket
        t = cubic_minimizer(t_a, f_a, gtd_a, t_b, f_b, gtd_b)
        left, right = min(t_a, t_b), max(t_a, t_b)
        margin = 0.1 * (right - left)
        if min(right - t, t - left) < margin:
            # too close to an end: accept once, then move a tenth of the way in
            if insufficient_progress or t >= right or t <= left:
                t = right - margin if abs(t - right) < abs(t - left) else left + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        new_loss, new_grad = objective(t)
        evaluations, new_gtd, ls_iter = evaluations + 1, float(new_grad @ direction), ls_iter + 1
        point = [t, new_loss, new_grad, new_gtd]
        if new_loss > loss + c1 * t * gtd or new_loss >= bracket[low][1]:
            bracket[high] = point
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(new_gtd) <= -c2 * gtd:
                done = True
            elif new_gtd * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = point
    best_t, best_loss, best_grad, _ = bracket[low]
    return best_loss, best_grad, best_t, evaluations


class LBFGS(Optimizer):
    """L-BFGS, as ``torch.optim.LBFGS``: one parameter group; ``step(closure)`` runs up to
    ``max_iter`` iterations (``max_eval`` loss evaluations, default ``max_iter * 5 // 4``)
    and returns the first loss. ``line_search_fn`` is None (fixed step ``lr``; the first
    iteration's step is scaled by min(1, 1 / ‖g‖₁)) or ``"strong_wolfe"``.

    Example::

        >>> x = nn.Parameter(chainrule.tensor([-1.5, 2.0], dtype=chainrule.float64))
        >>> optimizer = chainrule.optim.LBFGS([x], line_search_fn="strong_wolfe")
        >>> def closure():
        ...     optimizer.zero_grad()
        ...     loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2    # Rosenbrock
        ...     loss.backward()
        ...     return loss
        >>> for _ in range(5):
        ...     loss = optimizer.step(closure)
        >>> x.detach().numpy().round(4)
        array([1., 1.])
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(
                "LBFGS doesn't support per-parameter options (parameter groups); give one list of parameters"
            )
        self._params = self.param_groups[0]["params"]

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_lr(group["lr"])
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise InputError(
                f"LBFGS: line_search_fn={group['line_search_fn']!r} is not supported; "
                "use None (fixed step lr) or 'strong_wolfe'"
            )

    # -------------------------------------------------------------- flat parameter views
    def _flat_grad(self) -> np.ndarray:
        return np.concatenate(
            [
                np.zeros(param.numel(), param.dtype) if param.grad is None else param.grad.array.reshape(-1)
                for param in self._params
            ]
        )

    def _add_to_params(self, step_size: float, direction: np.ndarray) -> None:
        offset = 0
        for param in self._params:
            count = param.numel()
            param.array += step_size * direction[offset : offset + count].reshape(param.array.shape)
            param._vc[0] += 1  # an in-place change, as every optimizer step
            offset += count

    def _directional_evaluate(
        self, closure: Callable[[], Any], start: list[np.ndarray], direction: np.ndarray, step_length: float
    ) -> tuple[float, np.ndarray]:
        """The loss and flat gradient at start + step_length · direction; the parameters are
        put back to ``start`` afterwards."""
        self._add_to_params(step_length, direction)
        value = self._evaluate_loss(closure)[1]
        gradient = self._flat_grad()
        for param, array in zip(self._params, start):
            param.array[...] = array
        return value, gradient

    def _evaluate_loss(self, closure: Callable[[], Any]) -> tuple[Any, float]:
        loss = self._evaluate(closure)
        return loss, float(loss.item() if isinstance(loss, Tensor) else loss)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run up to ``max_iter`` L-BFGS iterations; ``closure`` (required) zeroes the
        gradients, computes the loss, calls ``backward`` and returns the loss. Returns the
        loss of the first evaluation."""
        if closure is None:
            raise InputError(
                "LBFGS.step needs a closure that re-evaluates the model and returns the loss: "
                "optimizer.step(closure)"
            )
        group = self.param_groups[0]
        lr, max_iter, max_eval = _hyper(group["lr"]), group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        first_loss, loss = self._evaluate_loss(closure)
        evaluations = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return first_loss

        unwrap = _unwrap
        direction, t = unwrap(state.get("d")), state.get("t")
        old_dirs = [unwrap(v) for v in state.get("old_dirs", [])]
        old_stps = [unwrap(v) for v in state.get("old_stps", [])]
        ro = [float(unwrap(v)) for v in state.get("ro", [])]
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = unwrap(state.get("prev_flat_grad")), state.get("prev_loss")

        iteration = 0
        while iteration < max_iter:
            iteration += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                direction, old_dirs, old_stps, ro, h_diag = -flat_grad, [], [], [], 1.0
            else:
                gradient_change, last_step = flat_grad - prev_flat_grad, direction * t
                curvature = float(gradient_change @ last_step)
                if curvature > 1e-10:  # keep the pair only where it keeps H positive definite
                    if len(old_dirs) == group["history_size"]:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(gradient_change)
                    old_stps.append(last_step)
                    ro.append(1.0 / curvature)
                    h_diag = curvature / float(gradient_change @ gradient_change)
                state.setdefault("al", [None] * group["history_size"])
                direction = two_loop_direction(
                    flat_grad, old_dirs, old_stps, ro, float(_unwrap(h_diag)), state["al"]
                )
            prev_flat_grad, prev_loss = flat_grad.copy(), loss
            # the first step is scaled down by the gradient's size: there is no curvature yet
            t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(flat_grad @ direction)
            if gtd > -tolerance_change:  # not a descent direction
                break

            spent = 0
            if group["line_search_fn"] == "strong_wolfe":
                start = [param.array.copy() for param in self._params]
                objective = functools.partial(self._directional_evaluate, closure, start, direction)
                loss, flat_grad, t, spent = strong_wolfe(objective, t, direction, loss, flat_grad, gtd)
                self._add_to_params(t, direction)
                converged = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, direction)
                converged = False
                if iteration != max_iter:
                    loss = self._evaluate_loss(closure)[1]
                    flat_grad = self._flat_grad()
                    converged = np.abs(flat_grad).max() <= tolerance_grad
                    spent = 1
            evaluations += spent
            state["func_evals"] += spent

            if (
                iteration == max_iter
                or evaluations >= max_eval
                or converged
                or np.abs(direction * t).max() <= tolerance_change
                or abs(loss - prev_loss) < tolerance_change
            ):
                break

        wrap = _wrap
        state.update(
            d=wrap(direction),
            t=t,
            old_dirs=[wrap(v) for v in old_dirs],
            old_stps=[wrap(v) for v in old_stps],
            ro=[wrap(np.asarray(v)) for v in ro],
            H_diag=wrap(np.asarray(h_diag)),
            prev_flat_grad=wrap(prev_flat_grad),
            prev_loss=prev_loss,
        )
        return first_loss


def _wrap(array: np.ndarray | None) -> Tensor | None:
    return None if array is None else Tensor._wrap(array)


def _unwrap(value: Any) -> Any:
    return value.array if isinstance(value, Tensor) else value
