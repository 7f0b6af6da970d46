"""Fit a cubic to sin(x) with hand-written gradient descent on tensors (PyTorch style)."""

import json
import math

import torch

dtype = torch.float32
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
x = torch.linspace(-math.pi, math.pi, 200, device=device, dtype=dtype)
y = torch.sin(x)
coefficients = [
    torch.tensor(value, device=device, dtype=dtype, requires_grad=True) for value in (0.1, -0.2, 0.05, 0.3)
]
learning_rate = 1e-5
for _step in range(300):
    a, b, c, d = coefficients
    prediction = a + b * x + c * x**2 + d * x**3
    loss = (prediction - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        for coefficient in coefficients:
            coefficient -= learning_rate * coefficient.grad
            coefficient.grad = None
steps = torch.arange(4) / 2  # integer tensor / int: float32
print(
    json.dumps(
        {"loss": loss.item(), "coefficients": [c.item() for c in coefficients], "dtype": str(steps.dtype)}
    )
)
