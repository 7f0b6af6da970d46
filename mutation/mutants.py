"""The planted bugs: each a one-line change a careless edit could make, and the tests that must
catch it without PyTorch.

``original`` is a snippet of today's code that must occur exactly once in ``path`` (a changed
line makes the mutation stale, which fails the run: refresh the snippet with the code).
``numba=False`` runs the tests with the numba kernels off, for bugs on the NumPy path that the
kernels would otherwise bypass. ``quick`` marks the subset tests/test_mutation.py runs in every
suite run (chosen to take well under two minutes together).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    numba: bool = True
    quick: bool = False


OPTIM_TESTS = ("tests/test_optim_reference.py", "tests/test_optim.py")
SCHEDULE_TESTS = ("tests/test_optim_reference.py", "tests/test_lr_scheduler.py")
RELU_TESTS = ("tests/test_fast_paths.py", "tests/test_kernels.py", "tests/test_ops.py")
LINEAR_TESTS = ("tests/test_fast_paths.py", "tests/test_ops.py", "tests/test_nn_layers.py")
NORM_TESTS = (
    "tests/test_ops.py",
    "tests/test_nn_layers.py",
    "tests/test_nn_functional.py",
    "tests/test_fast_paths.py",
)
LOSS_TESTS = ("tests/test_fast_paths.py", "tests/test_nn_functional.py", "tests/test_ops.py")
CONV_TESTS = (
    "tests/test_fast_paths.py",
    "tests/test_kernels.py",
    "tests/test_ops.py",
    "tests/test_nn_layers.py",
    "tests/test_nn_functional.py",
)
POOL_TESTS = (
    "tests/test_kernels_pool.py",
    "tests/test_ops.py",
    "tests/test_nn_layers.py",
    "tests/test_nn_functional.py",
)
REDUCE_TESTS = ("tests/test_ops.py", "tests/test_engine.py", "tests/test_tensor.py")
RNN_TESTS = ("tests/test_nn_recurrent.py",)
DOUBLE_TESTS = ("tests/test_double_backward.py", "tests/test_gradcheck.py")
ENGINE_TESTS = (
    "tests/test_autograd_state.py",
    "tests/test_engine.py",
    "tests/test_tensor.py",
    "tests/test_ops.py",
)

MUTATIONS: list[Mutation] = [
    # ------------------------------------------------------------------ optimizers (NumPy path)
    Mutation(
        "sgd-numpy-drops-momentum",
        "chainrule/optim/sgd.py",
        "grad = grad + momentum * buffer if nesterov else buffer",
        "grad = grad + momentum * buffer if nesterov else grad",
        OPTIM_TESTS,
        numba=False,
        quick=True,
    ),
    Mutation(
        "sgd-numpy-weight-decay-sign",
        "chainrule/optim/sgd.py",
        "grad = grad + weight_decay * param",
        "grad = grad - weight_decay * param",
        OPTIM_TESTS,
        numba=False,
    ),
    Mutation(
        "sgd-numpy-dampening-inverted",
        "chainrule/optim/sgd.py",
        "buffer += grad if dampening == 0 else (1 - dampening) * grad",
        "buffer += grad if dampening == 0 else dampening * grad",
        OPTIM_TESTS,
        numba=False,
    ),
    Mutation(
        "sgd-numpy-nesterov-uses-buffer-twice",
        "chainrule/optim/sgd.py",
        "grad = grad + momentum * buffer if nesterov else buffer",
        "grad = buffer + momentum * buffer if nesterov else buffer",
        OPTIM_TESTS,
        numba=False,
    ),
    Mutation(
        "sgd-maximize-ignored",
        "chainrule/optim/sgd.py",
        "        if maximize:\n            grad = -grad\n",
        "        if maximize:\n            grad = grad\n",
        OPTIM_TESTS,
        numba=False,
    ),
    Mutation(
        "adam-second-moment-beta1",
        "chainrule/optim/adam.py",
        "exp_avg_sq *= beta2",
        "exp_avg_sq *= beta1",
        OPTIM_TESTS,
        quick=True,
    ),
    Mutation(
        "adam-first-moment-beta2",
        "chainrule/optim/adam.py",
        "exp_avg += (1 - beta1) * (grad - exp_avg)",
        "exp_avg += (1 - beta2) * (grad - exp_avg)",
        OPTIM_TESTS,
    ),
    Mutation(
        "adam-bias-correction2-not-rooted",
        "chainrule/optim/adam.py",
        "bias_correction2_sqrt = (1 - beta2**count) ** 0.5",
        "bias_correction2_sqrt = 1 - beta2**count",
        OPTIM_TESTS,
    ),
    Mutation(
        "adam-amsgrad-ignores-max",
        "chainrule/optim/adam.py",
        "second_moment = max_exp_avg_sqs[index]",
        "second_moment = exp_avg_sq",
        OPTIM_TESTS,
    ),
    Mutation(
        "adamw-decay-without-lr",
        "chainrule/optim/adam.py",
        "param *= 1 - lr * weight_decay",
        "param *= 1 - weight_decay",
        OPTIM_TESTS,
    ),
    Mutation(
        "rmsprop-square-avg-alpha-swapped",
        "chainrule/optim/rmsprop.py",
        "square_avg += (1 - alpha) * grad * grad",
        "square_avg += alpha * grad * grad",
        OPTIM_TESTS,
    ),
    Mutation(
        "rmsprop-centered-not-centred",
        "chainrule/optim/rmsprop.py",
        "denominator = np.sqrt(square_avg - grad_avg * grad_avg)",
        "denominator = np.sqrt(square_avg)",
        OPTIM_TESTS,
    ),
    Mutation(
        "rmsprop-momentum-buffer-not-decayed",
        "chainrule/optim/rmsprop.py",
        "buffer *= momentum",
        "buffer *= 1.0",
        OPTIM_TESTS,
    ),
    Mutation(
        "adagrad-lr-decay-off-by-one",
        "chainrule/optim/adagrad.py",
        "decayed_lr = lr / (1 + (float(step) - 1) * lr_decay)",
        "decayed_lr = lr / (1 + float(step) * lr_decay)",
        OPTIM_TESTS,
    ),
    Mutation(
        "adagrad-eps-inside-root",
        "chainrule/optim/adagrad.py",
        "param -= decayed_lr * (grad / (np.sqrt(state_sum) + eps))",
        "param -= decayed_lr * (grad / np.sqrt(state_sum + eps))",
        OPTIM_TESTS,
    ),
    Mutation(
        "adadelta-delta-accumulator-takes-grad",
        "chainrule/optim/adadelta.py",
        "acc_delta += (1 - rho) * delta * delta",
        "acc_delta += (1 - rho) * grad * grad",
        OPTIM_TESTS,
    ),
    # ------------------------------------------------------- the kernels' threads (numba path)
    Mutation(
        "kernel-threads-never-run",
        "chainrule/backends/numba.py",
        "return min(threads, numba.config.NUMBA_NUM_THREADS)",
        "return 1",
        ("tests/test_kernel_threads.py",),
    ),
    Mutation(
        "kernel-threads-auto-threads-beside-openblas",
        "chainrule/backends/numba.py",
        "return mkl.threads() if mkl is not None else 1",
        "return mkl.threads() if mkl is not None else 2",
        ("tests/test_kernel_threads.py",),
    ),
    # -------------------------------------------------- the numba SGD kernel (numba path)
    Mutation(
        "sgd-kernel-drops-momentum",
        "chainrule/kernels/optim.py",
        "g = g + momentum * b if nesterov else b",
        "g = g + momentum * b if nesterov else g",
        OPTIM_TESTS + ("tests/test_kernels.py",),
    ),
    Mutation(
        "sgd-kernel-dampening-ignored",
        "chainrule/kernels/optim.py",
        "b = momentum * buffer[index] + keep * g",
        "b = momentum * buffer[index] + g",
        OPTIM_TESTS + ("tests/test_kernels.py",),
    ),
    Mutation(
        "sgd-kernel-weight-decay-sign",
        "chainrule/kernels/optim.py",
        "g = g + weight_decay * param[index]",
        "g = g - weight_decay * param[index]",
        OPTIM_TESTS + ("tests/test_kernels.py",),
    ),
    Mutation(
        "sgd-kernel-first-step-scaled",
        "chainrule/kernels/optim.py",
        "            b = g\n",
        "            b = momentum * g\n",
        OPTIM_TESTS + ("tests/test_kernels.py",),
    ),
    # ------------------------------------------------------------------------ schedules
    Mutation(
        "step-lr-decays-one-epoch-early",
        "chainrule/optim/lr_scheduler.py",
        "self.last_epoch % self.step_size != 0",
        "(self.last_epoch + 1) % self.step_size != 0",
        SCHEDULE_TESTS,
    ),
    Mutation(
        "cosine-annealing-ratio-one-step-ahead",
        "chainrule/optim/lr_scheduler.py",
        "ratio = ((1 + math.cos(math.pi * self.last_epoch / self.T_max))",
        "ratio = ((1 + math.cos(math.pi * (self.last_epoch + 1) / self.T_max))",
        SCHEDULE_TESTS,
    ),
    Mutation(
        "warm-restarts-period-off-by-one",
        "chainrule/optim/lr_scheduler.py",
        "math.cos(math.pi * self.T_cur / self.T_i)",
        "math.cos(math.pi * self.T_cur / (self.T_i + 1))",
        SCHEDULE_TESTS,
    ),
    Mutation(
        "one-cycle-linear-anneal-wrong-end",
        "chainrule/optim/lr_scheduler.py",
        "return (end - start) * pct + start",
        "return (end - start) * pct + end",
        SCHEDULE_TESTS,
    ),
    Mutation(
        "plateau-reduces-one-epoch-early",
        "chainrule/optim/lr_scheduler.py",
        "if self.num_bad_epochs > self.patience:",
        "if self.num_bad_epochs >= self.patience:",
        SCHEDULE_TESTS,
    ),
    # ---------------------------------------------------------------------------- ReLU
    Mutation(
        "relu-double-backward-ignores-mask",
        "chainrule/ops/elementwise.py",
        "return ReluGrad.apply(grad_grad, ctx.mask), None",
        "return grad_grad, None",
        RELU_TESTS + DOUBLE_TESTS,
    ),
    Mutation(
        "relu-numpy-backward-ignores-mask",
        "chainrule/ops/elementwise.py",
        "np.multiply(grad, mask, out=out)",
        "np.copyto(out, grad)",
        RELU_TESTS,
        numba=False,
    ),
    Mutation(
        "relu-kernel-backward-ignores-mask",
        "chainrule/kernels/activation.py",
        "out[index] = grad[index] * mask[index]",
        "out[index] = grad[index]",
        RELU_TESTS,
    ),
    Mutation(
        "relu-kernel-mask-includes-zero",
        "chainrule/kernels/activation.py",
        "positive = value > 0",
        "positive = value >= 0",
        RELU_TESTS,
    ),
    # -------------------------------------------------------------------------- Linear
    Mutation(
        "linear-fast-weight-grad-rows-reversed",
        "chainrule/ops/linalg.py",
        "grad_w = (weight_product or product)(grad.T, x)",
        # on the NumPy path only (LinearGrad's forward); the Tensor path differentiates it
        "grad_w = (weight_product or product)(grad.T, x[::-1] if product is blas.matmul else x)",
        LINEAR_TESTS,
        quick=True,
    ),
    Mutation(
        "linear-double-backward-drops-grad-term",
        "chainrule/ops/linalg.py",
        "        return (*found, None)\n\n\ndef _linear_grads(",
        "        return (None, *found[1:], None)\n\n\ndef _linear_grads(",
        LINEAR_TESTS + DOUBLE_TESTS,
    ),
    Mutation(
        "linear-bias-grad-mean",
        "chainrule/ops/linalg.py",
        "grad_b = grad.sum(0)",
        "grad_b = grad.mean(0)",
        LINEAR_TESTS,
    ),
    # ----------------------------------------------------------------------- Normalize
    Mutation(
        "normalize-recorded-drops-projection",
        "chainrule/ops/norm.py",
        "grad_x = (scaled - scaled.mean(dims, keepdim=True) - normalized * projection) * inv_std",
        "grad_x = (scaled - scaled.mean(dims, keepdim=True)) * inv_std",
        NORM_TESTS,
    ),
    Mutation(
        "normalize-fast-folded-projection-halved",
        "chainrule/ops/norm.py",
        "grad_x -= normalized * (factor * projected_sum * (1.0 / count))",
        "grad_x -= normalized * (factor * projected_sum * (0.5 / count))",
        NORM_TESTS,
    ),
    Mutation(
        "normalize-fast-projection-sign",
        "chainrule/ops/norm.py",
        "grad_x -= normalized * projection",
        "grad_x += normalized * projection",
        NORM_TESTS,
    ),
    # --------------------------------------------------------------- CrossEntropyIndices
    Mutation(
        "cross-entropy-fast-onehot-halved",
        "chainrule/ops/loss.py",
        "grad_logits[np.arange(len(target)), target] -= 1",
        "grad_logits[np.arange(len(target)), target] -= 0.5",
        LOSS_TESTS,
    ),
    Mutation(
        "cross-entropy-double-backward-onehot-halved",
        "chainrule/ops/loss.py",
        "one_hot[np.arange(len(ctx.target)), ctx.target] = 1",
        "one_hot[np.arange(len(ctx.target)), ctx.target] = 0.5",
        LOSS_TESTS + DOUBLE_TESTS,
    ),
    Mutation(
        "cross-entropy-mean-counts-ignored-rows",
        "chainrule/ops/loss.py",
        "scale /= ctx.keep.sum()",
        "scale /= len(ctx.keep)",
        LOSS_TESTS,
    ),
    # -------------------------------------------------------------------------- Conv2d
    Mutation(
        "conv2d-fast-weight-grad-channels-reversed",
        "chainrule/ops/conv.py",
        "grad_weight, grad_bias = _conv_weight_grad(x, grad, window, groups, columns, with_bias)",
        "grad_weight, grad_bias = _conv_weight_grad(x, grad[:, ::-1], window, groups, columns, with_bias)",
        CONV_TESTS,
    ),
    Mutation(
        "conv2d-bias-grad-from-a-weight-column",
        "chainrule/ops/conv.py",
        "np.ascontiguousarray(per_group[:, :, depth])",
        "np.ascontiguousarray(per_group[:, :, depth - 1])",
        CONV_TESTS,
    ),
    Mutation(
        "conv1d-im2col-groups-fill-one-block",
        "chainrule/ops/conv.py",
        "block = columns[group, :depth].reshape(group_in, k, n, out_length)",
        "block = columns[0, :depth].reshape(group_in, k, n, out_length)",
        CONV_TESTS,
    ),
    Mutation(
        "col2im-numpy-overwrites",
        "chainrule/ops/conv.py",
        "padded[..., rows, cols] += columns[:, i, j]",
        "padded[..., rows, cols] = columns[:, i, j]",
        CONV_TESTS,
        numba=False,
    ),
    Mutation(
        "col2im-kernel-overwrites",
        "chainrule/kernels/conv.py",
        "padded[g, c, n, row, ow * sw + j * dw] += columns[g, i, j, c, n, oh, ow]",
        "padded[g, c, n, row, ow * sw + j * dw] = columns[g, i, j, c, n, oh, ow]",
        CONV_TESTS,
    ),
    Mutation(
        "im2col-kernel-dilation-swapped",
        "chainrule/kernels/conv.py",
        "padded[c, n, oh * sh + i * dh, ow * sw + j * dw]",
        "padded[c, n, oh * sh + i * dh, ow * sw + j * dh]",
        CONV_TESTS,
    ),
    Mutation(
        "conv-long-product-keeps-last-slice",
        "chainrule/ops/conv.py",
        "total += blas.matmul(a[:, :, start:start + slice_length]",
        "total = blas.matmul(a[:, :, start:start + slice_length]",
        CONV_TESTS,
    ),
    # ------------------------------------------------------------------- pooling kernels
    Mutation(
        "max-pool-kernel-routes-to-wrong-column",
        "chainrule/kernels/pool.py",
        "col = ow * sw + (position % kw) * dw\n                    out[a, b, row, col] +=",
        "col = ow * sw + (position // kw) * dw\n                    out[a, b, row, col] +=",
        POOL_TESTS,
    ),
    Mutation(
        "max-pool-kernel-route-overwrites",
        "chainrule/kernels/pool.py",
        "out[a, b, row, col] += grad[a, b, oh, ow]",
        "out[a, b, row, col] = grad[a, b, oh, ow]",
        POOL_TESTS,
    ),
    Mutation(
        "max-pool-tiles-kernel-routes-to-mirrored-column",
        "chainrule/kernels/pool.py",
        "= value if position == j else zero",
        "= value if position == kw - 1 - j else zero",
        POOL_TESTS,
    ),
    Mutation(
        "avg-pool-kernel-scatter-overwrites",
        "chainrule/kernels/pool.py",
        "out[a, b, oh * sh + i * dh, ow * sw + j * dw] += value",
        "out[a, b, oh * sh + i * dh, ow * sw + j * dw] = value",
        POOL_TESTS,
    ),
    # ---------------------------------------------------------------------- reductions
    Mutation(
        "unreduce-scalar-grad-ignored",
        "chainrule/ops/reduce.py",
        "return _fill(shape, grad)",
        "return _fill(shape, np.ones_like(grad))",
        REDUCE_TESTS,
    ),
    Mutation(
        "reduction-backward-shortcut-ignores-grad",
        "chainrule/ops/reduce.py",
        "return Tensor._wrap(_fill(shape, grad.array))",
        "return Tensor._wrap(_fill(shape, np.ones_like(grad.array)))",
        REDUCE_TESTS,
    ),
    Mutation(
        "reduction-backward-shortcut-while-recording",
        "chainrule/ops/reduce.py",
        "if grad.array.size == 1 and not _grad_enabled() and not _anomaly_enabled():",
        "if grad.array.size == 1 and not _anomaly_enabled():",
        REDUCE_TESTS + DOUBLE_TESTS,
    ),
    Mutation(
        "mean-count-uses-first-dim",
        "chainrule/ops/reduce.py",
        "else int(np.prod([a.shape[d] for d in dims]))",
        "else a.shape[dims[0]]",
        REDUCE_TESTS,
    ),
    Mutation(
        "max-ties-not-split",
        "chainrule/ops/reduce.py",
        "ctx.mask = hits / hits.sum(axis=dims, keepdims=True)",
        "ctx.mask = hits",
        REDUCE_TESTS,
    ),
    # --------------------------------------------------------------------- recurrences
    Mutation(
        "gru-update-gate-inverted",
        "chainrule/ops/recurrent.py",
        "grad_through_n = grad_h * (1 - z)",
        "grad_through_n = grad_h * z",
        RNN_TESTS,
    ),
    Mutation(
        "lstm-forget-gate-uses-input-gate",
        "chainrule/ops/recurrent.py",
        "grad_f = grad_c * c_prev * f * (1 - f)",
        "grad_f = grad_c * c_prev * i * (1 - f)",
        RNN_TESTS,
    ),
    Mutation(
        "rnn-relu-gradient-passes-everywhere",
        "chainrule/ops/recurrent.py",
        "return grad_h * (h > 0)",
        "return grad_h * (h >= 0)",
        RNN_TESTS,
    ),
    Mutation(
        "rnn-hidden-bias-grad-first-sample",
        "chainrule/ops/recurrent.py",
        "grad_bias = grad_gates_h.sum((0, 1))",
        "grad_bias = grad_gates_h.sum(0)[0]",
        RNN_TESTS,
    ),
    Mutation(
        "lstm-final-cell-gradient-dropped",
        "chainrule/ops/recurrent.py",
        "grad, grad_c, ctx.needs_input_grad[:5])",
        "grad, grad_c * 0, ctx.needs_input_grad[:5])",
        RNN_TESTS,
    ),
    # -------------------------------------------------------------------------- engine
    Mutation(
        "engine-pending-grads-overwrite",
        "chainrule/autograd/engine.py",
        "pending[next_edge] = input_grad if waiting is None else waiting + input_grad",
        "pending[next_edge] = input_grad",
        ENGINE_TESTS,
        quick=True,
    ),
    Mutation(
        "engine-leaf-grad-overwrites",
        "chainrule/autograd/engine.py",
        "current.array += data",
        "current.array[...] = data",
        ENGINE_TESTS,
    ),
    Mutation(
        "engine-create-graph-leaf-grad-overwrites",
        "chainrule/autograd/engine.py",
        "leaf.grad = grad if current is None else current + grad",
        "leaf.grad = grad",
        ENGINE_TESTS,
    ),
    Mutation(
        "engine-grad-aliases-views",
        "chainrule/autograd/engine.py",
        "if data.base is not None or id(data) in handed_out or not data.flags.writeable:",
        "if not data.flags.writeable:",
        ENGINE_TESTS,
    ),
    Mutation(
        "sum-to-shape-means",
        "chainrule/ops/movement.py",
        "out = a.sum(axis=axes, keepdims=True) if axes else a",
        "out = a.mean(axis=axes, keepdims=True) if axes else a",
        ENGINE_TESTS,
    ),
    # ------------------------------------------------------------------ version counter
    Mutation(
        "version-counter-not-bumped",
        "chainrule/tensor.py",
        "self._vc[0] += 1",
        "self._vc[0] += 0",
        ENGINE_TESTS,
        quick=True,
    ),
    Mutation(
        "version-check-only-on-decrease",
        "chainrule/autograd/function.py",
        "if version is not None and tensor._vc[0] != version:",
        "if version is not None and tensor._vc[0] < version:",
        ENGINE_TESTS,
    ),
    Mutation(
        "saved-output-version-check-dropped",
        "chainrule/autograd/function.py",
        "if self._out_version[0] != self._out_saved_version:",
        "if self._out_version[0] < self._out_saved_version:",
        ENGINE_TESTS,
    ),
    Mutation(
        "detach-gets-its-own-version-counter",
        "chainrule/tensor.py",
        "        out._vc = self._vc\n        return out\n",
        "        out._vc = [0]\n        return out\n",
        ENGINE_TESTS,
    ),
    Mutation(
        "view-gets-its-own-version-counter",
        "chainrule/autograd/function.py",
        "                return shared_counter(arg)\n",
        "                return [0]\n",
        ENGINE_TESTS,
    ),
    Mutation(
        "inplace-write-into-a-plain-tensor-drops-the-gradient",
        "chainrule/tensor.py",
        "if GRAD_MODE.get() and (self.requires_grad or _any_requires_grad(sources)):",
        "if GRAD_MODE.get() and self.requires_grad:",
        ("tests/test_inplace_autograd.py",),
    ),
    Mutation(
        "inplace-record-leaves-the-old-node",
        "chainrule/ops/inplace.py",
        "    tensor.grad_fn = new.grad_fn\n",
        "    tensor.grad_fn = tensor.grad_fn\n",
        ("tests/test_inplace_autograd.py",),
    ),
    Mutation(
        "inplace-record-writes-into-the-old-array",
        "chainrule/ops/inplace.py",
        "    tensor.array = array\n",
        "    tensor.array[...] = array\n",
        ("tests/test_inplace_autograd.py",),
    ),
    # ------------------------------------------- second-order composite rules (gradient ops)
    Mutation(
        "composite-vjp-ignores-grad-outputs",
        "chainrule/ops/double_backward.py",
        "seeds = [g.detach().requires_grad_() if recording else g for _, g in pairs]",
        "seeds = [g.detach().requires_grad_() if recording else g * 0 + 1 for _, g in pairs]",
        DOUBLE_TESTS + ("tests/test_fast_paths.py",),
    ),
    Mutation(
        "composite-vjp-not-linked-when-recording",
        "chainrule/ops/double_backward.py",
        "found = _linked(real_sources + [g for _, g in pairs], sources + seeds, list(found))",
        "found = list(found)",
        DOUBLE_TESTS + ("tests/test_fast_paths.py",),
    ),
]
