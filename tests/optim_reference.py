"""NumPy reference implementations of every optimizer and learning-rate schedule, in float64.

Written from the published update rules (the algorithm boxes of PyTorch's ``torch.optim``
documentation, which follow Robbins & Monro / Sutskever et al. 2013 for SGD with momentum,
Kingma & Ba 2015 and Reddi et al. 2018 for Adam and AMSGrad, Loshchilov & Hutter 2019 for
AdamW, Hinton's lecture 6e and Graves 2013 for (centered) RMSprop, Duchi et al. 2011 for
Adagrad, Loshchilov & Hutter 2017 for cosine annealing with warm restarts, Smith 2017 for
cyclical rates, Smith & Topin 2018 for one-cycle), not from chainrule's code: the tests in
``test_optim_reference.py`` compare chainrule's optimizers and schedulers with these, so the
suite judges them without PyTorch. Where PyTorch's documented box and its behaviour differ
(``maximize`` negates the gradient before weight decay is added, in every optimizer), the
behaviour is followed, since chainrule promises PyTorch's numbers; ``test_optim_reference.py``
checks these references against PyTorch when it is installed.

Each optimizer is a small class holding its state; ``step(params, grads)`` returns the new
parameters (new arrays; the inputs are left alone), one per parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class ReferenceSGD:
    """SGD with momentum μ, dampening τ, weight decay λ, Nesterov momentum and maximize."""

    def __init__(
        self,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov, self.maximize = weight_decay, nesterov, maximize
        self.buffers: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = -gradient if self.maximize else gradient.copy()
            g = g + self.weight_decay * theta
            if self.momentum != 0.0:
                if index in self.buffers:  # t > 1
                    b = self.momentum * self.buffers[index] + (1.0 - self.dampening) * g
                else:  # t = 1: the buffer starts as the gradient, undamped
                    b = g.copy()
                self.buffers[index] = b
                g = g + self.momentum * b if self.nesterov else b
            updated.append(theta - self.lr * g)
        return updated


class ReferenceAdam:
    """Adam (L2 weight decay added to the gradient) or, with ``decoupled``, AdamW (the weights
    shrink by lr·λ before the step); AMSGrad keeps the running maximum of the second moment."""

    def __init__(
        self,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
        decoupled: bool = False,
    ) -> None:
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.weight_decay, self.amsgrad, self.maximize = weight_decay, amsgrad, maximize
        self.decoupled = decoupled
        self.t = 0
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}
        self.v_max: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        t = self.t
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = -gradient if self.maximize else gradient.copy()
            if self.decoupled:
                theta = theta - self.lr * self.weight_decay * theta
            else:
                g = g + self.weight_decay * theta
            m = self.beta1 * self.m.get(index, 0.0) + (1.0 - self.beta1) * g
            v = self.beta2 * self.v.get(index, 0.0) + (1.0 - self.beta2) * g**2
            self.m[index], self.v[index] = m, v
            m_hat = m / (1.0 - self.beta1**t)
            if self.amsgrad:
                v = np.maximum(self.v_max.get(index, 0.0), v)
                self.v_max[index] = v
            v_hat = v / (1.0 - self.beta2**t)
            updated.append(theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        return updated


class ReferenceRMSprop:
    """RMSprop: v running mean of g² with smoothing α; centered subtracts the squared running
    mean of g; momentum μ accumulates the normalised step in a buffer."""

    def __init__(
        self,
        lr: float,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        self.lr, self.alpha, self.eps, self.weight_decay = lr, alpha, eps, weight_decay
        self.momentum, self.centered, self.maximize = momentum, centered, maximize
        self.v: dict[int, np.ndarray] = {}
        self.g_ave: dict[int, np.ndarray] = {}
        self.b: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = -gradient if self.maximize else gradient.copy()
            g = g + self.weight_decay * theta
            v = self.alpha * self.v.get(index, 0.0) + (1.0 - self.alpha) * g**2
            self.v[index] = v
            v_tilde = v
            if self.centered:
                g_ave = self.alpha * self.g_ave.get(index, 0.0) + (1.0 - self.alpha) * g
                self.g_ave[index] = g_ave
                v_tilde = v - g_ave**2
            normalised = g / (np.sqrt(v_tilde) + self.eps)
            if self.momentum > 0.0:
                b = self.momentum * self.b.get(index, 0.0) + normalised
                self.b[index] = b
                updated.append(theta - self.lr * b)
            else:
                updated.append(theta - self.lr * normalised)
        return updated


class ReferenceAdagrad:
    """Adagrad: the running sum of squared gradients (starting at ``initial_accumulator_value``)
    scales each coordinate; the rate decays as lr / (1 + (t − 1) η)."""

    def __init__(
        self,
        lr: float,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ) -> None:
        self.lr, self.lr_decay, self.weight_decay = lr, lr_decay, weight_decay
        self.initial, self.eps, self.maximize = initial_accumulator_value, eps, maximize
        self.t = 0
        self.sums: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        rate = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = -gradient if self.maximize else gradient.copy()
            g = g + self.weight_decay * theta
            total = self.sums.get(index, np.full_like(theta, self.initial)) + g**2
            self.sums[index] = total
            updated.append(theta - rate * g / (np.sqrt(total) + self.eps))
        return updated


class ReferenceAdadelta:
    """Adadelta (Zeiler, 2012): the step is the gradient scaled by RMS[Δθ]_{t−1} / RMS[g]_t,
    both running averages with decay ρ and ε inside the roots; ``lr`` scales the step."""

    def __init__(
        self,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        self.lr, self.rho, self.eps = lr, rho, eps
        self.weight_decay, self.maximize = weight_decay, maximize
        self.grad_avgs: dict[int, np.ndarray] = {}
        self.step_avgs: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = -gradient if self.maximize else gradient.copy()
            g = g + self.weight_decay * theta
            zero = np.zeros_like(theta)
            grad_avg = self.rho * self.grad_avgs.get(index, zero) + (1 - self.rho) * g**2
            previous_steps = self.step_avgs.get(index, zero)
            change = np.sqrt(previous_steps + self.eps) / np.sqrt(grad_avg + self.eps) * g
            self.grad_avgs[index] = grad_avg
            self.step_avgs[index] = self.rho * previous_steps + (1 - self.rho) * change**2
            updated.append(theta - self.lr * change)
        return updated


class ReferenceAdamax:
    """Adamax (Kingma & Ba 2015, algorithm 2): m as in Adam, u the exponentially weighted
    infinity norm max(β2 u, |g|) (ε inside the max, as PyTorch adds it), step lr/(1 − β1ᵗ)·m/u."""

    def __init__(
        self,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.weight_decay, self.maximize = weight_decay, maximize
        self.t = 0
        self.m: dict[int, np.ndarray] = {}
        self.u: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = (-gradient if self.maximize else gradient) + self.weight_decay * theta
            m = self.beta1 * self.m.get(index, 0.0) + (1 - self.beta1) * g
            u = np.maximum(self.beta2 * self.u.get(index, np.zeros_like(theta)), np.abs(g) + self.eps)
            self.m[index], self.u[index] = m, u
            updated.append(theta - self.lr / (1 - self.beta1**self.t) * m / u)
        return updated


class ReferenceNAdam:
    """NAdam (Dozat 2016) with the momentum schedule μ_t = β1 (1 − ½ 0.96^(t ψ)): the step
    mixes the current gradient, weighted (1 − μ_t)/(1 − Π_{i≤t} μ_i), with the momentum,
    weighted μ_{t+1}/(1 − Π_{i≤t+1} μ_i). PyTorch keeps Π as a float32 scalar; so does this
    reference, or the two would differ by ~1e-7 relative. ``decoupled`` shrinks θ by lr·λ."""

    def __init__(
        self,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ) -> None:
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.weight_decay, self.psi, self.maximize = weight_decay, momentum_decay, maximize
        self.decoupled = decoupled_weight_decay
        self.t = 0
        self.product = np.float32(1.0)
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}

    def _mu(self, t: int) -> float:
        return self.beta1 * (1 - 0.5 * 0.96 ** (t * self.psi))

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        mu, mu_next = self._mu(self.t), self._mu(self.t + 1)
        self.product = np.float32(self.product * np.float32(mu))
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = -gradient if self.maximize else gradient
            if self.decoupled:
                theta = theta * (1 - self.lr * self.weight_decay)
            else:
                g = g + self.weight_decay * theta
            m = self.beta1 * self.m.get(index, 0.0) + (1 - self.beta1) * g
            v = self.beta2 * self.v.get(index, 0.0) + (1 - self.beta2) * g**2
            self.m[index], self.v[index] = m, v
            denominator = np.sqrt(v / (1 - self.beta2**self.t)) + self.eps
            product = float(self.product)
            step = self.lr * (1 - mu) / (1 - product) * g / denominator
            step = step + self.lr * mu_next / (1 - product * mu_next) * m / denominator
            updated.append(theta - step)
        return updated


class ReferenceRAdam:
    """RAdam (Liu et al. 2020, algorithm 2): the length of the approximated simple moving
    average ρ_t decides; above 5 the Adam step is rectified by r_t, else an SGD-with-momentum
    step on the bias-corrected m. ``decoupled`` shrinks θ by lr·λ first."""

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ) -> None:
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.weight_decay, self.decoupled, self.maximize = weight_decay, decoupled_weight_decay, maximize
        self.t = 0
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        t, beta1, beta2 = self.t, self.beta1, self.beta2
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = -gradient if self.maximize else gradient
            if self.decoupled:
                theta = theta * (1 - self.lr * self.weight_decay)
            else:
                g = g + self.weight_decay * theta
            m = beta1 * self.m.get(index, 0.0) + (1 - beta1) * g
            v = beta2 * self.v.get(index, 0.0) + (1 - beta2) * g**2
            self.m[index], self.v[index] = m, v
            m_hat = m / (1 - beta1**t)
            if rho_t > 5:
                r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                l_t = math.sqrt(1 - beta2**t) / (np.sqrt(v) + self.eps)
                updated.append(theta - self.lr * m_hat * r_t * l_t)
            else:
                updated.append(theta - self.lr * m_hat)
        return updated


class ReferenceASGD:
    """Averaged SGD (Polyak & Juditsky 1992): SGD with rate η_t = lr / (1 + λ lr t)^α and the
    weights shrunk by (1 − λ η_t); the average ā starts averaging at step t0 with weight
    μ_t = 1 / max(1, t − t0). η and μ are float32 scalars in PyTorch, so here too."""

    def __init__(
        self,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        self.lr, self.lambd, self.alpha, self.t0 = lr, lambd, alpha, t0
        self.weight_decay, self.maximize = weight_decay, maximize
        self.t = 0
        self.eta, self.mu = float(np.float32(lr)), 1.0
        self.averages: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = (-gradient if self.maximize else gradient) + self.weight_decay * theta
            theta = theta * (1 - self.lambd * self.eta) - self.eta * g
            average = self.averages.get(index, np.zeros_like(theta))
            self.averages[index] = average + self.mu * (theta - average)
            updated.append(theta)
        self.eta = float(np.float32(self.lr / (1 + self.lambd * self.lr * self.t) ** self.alpha))
        self.mu = float(np.float32(1 / max(1, self.t - self.t0)))
        return updated


class ReferenceRprop:
    """Rprop without weight backtracking (Riedmiller & Braun 1993; Igel & Hüsken's Rprop−):
    each weight's step grows by η₊ while its gradient keeps its sign, shrinks by η₋ when it
    flips (and that step is skipped, the stored gradient zeroed), clipped to [Δmin, Δmax]."""

    def __init__(
        self,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
        maximize: bool = False,
    ) -> None:
        self.lr, (self.eta_minus, self.eta_plus) = lr, etas
        (self.smallest, self.largest), self.maximize = step_sizes, maximize
        self.previous: dict[int, np.ndarray] = {}
        self.sizes: dict[int, np.ndarray] = {}

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        updated = []
        for index, (theta, gradient) in enumerate(zip(params, grads)):
            g = -gradient if self.maximize else gradient.copy()
            previous = self.previous.get(index, np.zeros_like(theta))
            size = self.sizes.get(index, np.full_like(theta, self.lr)).copy()
            theta = theta.copy()
            for k in np.ndindex(theta.shape):  # element by element, as the paper states it
                if g[k] * previous[k] > 0:
                    size[k] = min(size[k] * self.eta_plus, self.largest)
                elif g[k] * previous[k] < 0:
                    size[k] = max(size[k] * self.eta_minus, self.smallest)
                    g[k] = 0.0
                else:
                    size[k] = min(max(size[k], self.smallest), self.largest)
                theta[k] -= np.sign(g[k]) * size[k]
            self.previous[index], self.sizes[index] = g, size
            updated.append(theta)
        return updated


def reference_lbfgs(
    function: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x: np.ndarray,
    lr: float = 1.0,
    max_iter: int = 20,
    history_size: int = 100,
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-9,
    calls: int = 1,
) -> tuple[np.ndarray, list[float]]:
    """L-BFGS with a fixed step (Liu & Nocedal 1989; the two-loop recursion of Nocedal &
    Wright, algorithm 7.4, with H₀ = (sᵀy / yᵀy) I), run as ``calls`` calls of PyTorch's
    ``LBFGS.step(closure)`` with ``line_search_fn=None``: each call evaluates f and then
    iterates up to ``max_iter`` times; the very first step is scaled by min(1, 1/‖g‖₁); a pair
    (s, y) is kept only when yᵀs > 1e-10; the history carries over between calls. Returns the
    final x and the loss each call returned (its first evaluation)."""
    steps: list[np.ndarray] = []
    changes: list[np.ndarray] = []
    scale, iterations, first_losses = 1.0, 0, []
    previous_grad = last_step = None
    for _ in range(calls):
        loss, grad = function(x)
        first_losses.append(loss)
        if np.max(np.abs(grad)) <= tolerance_grad:
            continue
        for inner in range(1, max_iter + 1):
            iterations += 1
            if iterations == 1:
                direction = -grad
            else:
                y = grad - previous_grad
                if y @ last_step > 1e-10:
                    steps, changes = (steps + [last_step])[-history_size:], (changes + [y])[-history_size:]
                    scale = (y @ last_step) / (y @ y)
                # H g by the two loops, then d = −H g
                q, alphas = grad.copy(), []
                for s, y_i in reversed(list(zip(steps, changes))):
                    alpha = (s @ q) / (y_i @ s)
                    alphas.append(alpha)
                    q = q - alpha * y_i
                r = scale * q
                for (s, y_i), alpha in zip(zip(steps, changes), reversed(alphas)):
                    r = r + s * (alpha - (y_i @ r) / (y_i @ s))
                direction = -r
            previous_grad, previous_loss = grad, loss
            t = min(1.0, 1.0 / np.sum(np.abs(grad))) * lr if iterations == 1 else lr
            if grad @ direction > -tolerance_change:
                break
            x = x + t * direction
            last_step = t * direction
            if inner == max_iter:
                break
            loss, grad = function(x)
            if (np.max(np.abs(grad)) <= tolerance_grad or np.max(np.abs(last_step)) <= tolerance_change
                    or abs(loss - previous_loss) < tolerance_change):
                break
    return x, first_losses


def reference_optimizer(
    name: str, options: dict
) -> Any:
    """The reference for chainrule optimizer ``name`` built with keyword ``options``."""
    if name == "SGD":
        return ReferenceSGD(**options)
    if name in ("Adam", "AdamW"):
        options = dict(options)
        decoupled = options.pop("decoupled_weight_decay", name == "AdamW")
        if name == "AdamW":
            options.setdefault("weight_decay", 1e-2)
        return ReferenceAdam(**options, decoupled=decoupled)
    if name == "RMSprop":
        return ReferenceRMSprop(**options)
    if name == "Adagrad":
        return ReferenceAdagrad(**options)
    if name == "Adadelta":
        return ReferenceAdadelta(**options)
    others = dict(Adamax=ReferenceAdamax, NAdam=ReferenceNAdam, RAdam=ReferenceRAdam, ASGD=ReferenceASGD,
                  Rprop=ReferenceRprop)
    return others[name](**options)


# ----------------------------------------------------------------------- learning-rate schedules
# Each function gives the learning rate after ``epoch`` scheduler steps (epoch 0 is the rate at
# construction), in the closed forms of the papers / PyTorch's documentation.


def step_lr(base: float, epoch: int, step_size: int, gamma: float) -> float:
    return base * gamma ** (epoch // step_size)


def multi_step_lr(base: float, epoch: int, milestones: Sequence[int], gamma: float) -> float:
    # a milestone listed twice decays twice
    return base * gamma ** sum(1 for milestone in milestones if milestone <= epoch)


def exponential_lr(base: float, epoch: int, gamma: float) -> float:
    return base * gamma**epoch


def constant_lr(base: float, epoch: int, factor: float, total_iters: int) -> float:
    return base * (factor if epoch < total_iters else 1.0)


def linear_lr(base: float, epoch: int, start_factor: float, end_factor: float, total_iters: int) -> float:
    progress = min(epoch, total_iters) / total_iters
    return base * (start_factor + (end_factor - start_factor) * progress)


def polynomial_lr(base: float, epoch: int, total_iters: int, power: float) -> float:
    return base * (1.0 - min(epoch, total_iters) / total_iters) ** power


def cosine_annealing(base: float, eta_min: float, t_cur: float, t_max: float) -> float:
    """SGDR's annealing within one period: from ``base`` at t_cur = 0 to ``eta_min`` at t_max."""
    return eta_min + (base - eta_min) * (1.0 + math.cos(math.pi * t_cur / t_max)) / 2.0


def warm_restarts_lr(base: float, epoch: int, t_0: int, t_mult: int, eta_min: float) -> float:
    """SGDR: periods of length T_0, T_0·T_mult, T_0·T_mult², ...; the rate restarts at each."""
    t_cur, period = epoch, t_0
    while t_cur >= period:
        t_cur -= period
        period *= t_mult
    return cosine_annealing(base, eta_min, t_cur, period)


def cyclic_scale(iteration: int, step_size_up: int, step_size_down: int) -> tuple[int, float]:
    """Smith's triangular wave: (cycle number from 1, position in [0, 1] up the triangle)."""
    total = step_size_up + step_size_down
    cycle = 1 + iteration // total
    position = (iteration % total) / total
    rise = step_size_up / total
    height = position / rise if position <= rise else (1.0 - position) / (1.0 - rise)
    return cycle, height


def cyclic_lr(
    iteration: int,
    base_lr: float,
    max_lr: float,
    step_size_up: int,
    step_size_down: int,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> float:
    cycle, height = cyclic_scale(iteration, step_size_up, step_size_down)
    amplitude = {"triangular": 1.0, "triangular2": 0.5 ** (cycle - 1), "exp_range": gamma**iteration}[mode]
    return base_lr + (max_lr - base_lr) * height * amplitude


def cyclic_momentum(
    iteration: int,
    base_momentum: float,
    max_momentum: float,
    step_size_up: int,
    step_size_down: int,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> float:
    """The momentum moves opposite to the rate: max_momentum when the rate is at base_lr."""
    cycle, height = cyclic_scale(iteration, step_size_up, step_size_down)
    amplitude = {"triangular": 1.0, "triangular2": 0.5 ** (cycle - 1), "exp_range": gamma**iteration}[mode]
    return max_momentum - (max_momentum - base_momentum) * height * amplitude


def one_cycle(
    step: int,
    total_steps: int,
    max_lr: float,
    pct_start: float = 0.3,
    anneal: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> tuple[float, float]:
    """Smith & Topin's one-cycle policy: (lr, momentum) at ``step``.

    Warm up from max_lr/div_factor to max_lr over the first pct_start of the steps, then anneal
    to initial/final_div_factor (three_phase: back down to the initial rate symmetrically first,
    then to the minimum). Momentum runs opposite, between max and base momentum."""
    initial = max_lr / div_factor
    minimum = initial / final_div_factor
    warmup_end = pct_start * total_steps - 1
    if three_phase:
        phases = [
            (warmup_end, initial, max_lr, max_momentum, base_momentum),
            (2 * pct_start * total_steps - 2, max_lr, initial, base_momentum, max_momentum),
            (total_steps - 1, initial, minimum, max_momentum, max_momentum),
        ]
    else:
        phases = [
            (warmup_end, initial, max_lr, max_momentum, base_momentum),
            (total_steps - 1, max_lr, minimum, base_momentum, max_momentum),
        ]

    def anneal_between(start: float, end: float, fraction: float) -> float:
        if anneal == "cos":
            return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * fraction))
        return start + (end - start) * fraction

    phase_start = 0.0
    for index, (phase_end, lr_from, lr_to, momentum_from, momentum_to) in enumerate(phases):
        if step <= phase_end or index == len(phases) - 1:
            fraction = (step - phase_start) / (phase_end - phase_start)
            return (
                anneal_between(lr_from, lr_to, fraction),
                anneal_between(momentum_from, momentum_to, fraction),
            )
        phase_start = phase_end
    raise AssertionError("unreachable")


def reduce_on_plateau(
    base: float,
    metrics: Sequence[float],
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    cooldown: int = 0,
    min_lr: float = 0.0,
    eps: float = 1e-8,
) -> list[float]:
    """The rates after each metric (mode 'min', relative threshold): after more than
    ``patience`` epochs without a value below best·(1 − threshold), multiply by ``factor``
    (not below min_lr, and only when the change exceeds eps), then wait ``cooldown`` epochs."""
    lr, best, bad_epochs, cooldown_left, rates = base, math.inf, 0, 0, []
    for value in metrics:
        if value < best * (1.0 - threshold):
            best, bad_epochs = value, 0
        else:
            bad_epochs += 1
        if cooldown_left > 0:
            cooldown_left -= 1
            bad_epochs = 0
        if bad_epochs > patience:
            reduced = max(lr * factor, min_lr)
            if lr - reduced > eps:
                lr = reduced
            cooldown_left, bad_epochs = cooldown, 0
        rates.append(lr)
    return rates


def sequence(rate: Callable[[int], float], epochs: int) -> list[float]:
    """[rate(0), rate(1), ..., rate(epochs)]."""
    return [rate(epoch) for epoch in range(epochs + 1)]
