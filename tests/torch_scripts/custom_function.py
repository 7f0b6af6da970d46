"""A custom autograd.Function (a scaled cubic Legendre-like term) trained by gradient descent."""

import json

import numpy as np
import torch
from torch.autograd import Function


class Cubic(Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input**3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input**2 - 1)


rng = np.random.default_rng(0)
x = torch.tensor(rng.uniform(-1, 1, size=64), dtype=torch.float32)
y = torch.tensor(np.sin(2 * x.numpy()), dtype=torch.float32)
a = torch.full((), 0.0, requires_grad=True)
b = torch.full((), -1.0, requires_grad=True)
c = torch.full((), 0.0, requires_grad=True)
d = torch.full((), 0.3, requires_grad=True)
for _step in range(200):
    prediction = a + b * Cubic.apply(c + d * x)
    loss = (prediction - y).pow(2).mean()
    loss.backward()
    with torch.no_grad():
        for parameter in (a, b, c, d):
            parameter -= 0.05 * parameter.grad
            parameter.grad.zero_()
print(json.dumps({"loss": loss.item(), "parameters": [p.item() for p in (a, b, c, d)]}))
