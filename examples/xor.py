"""A two-layer network learns XOR with chainrule's backward() and a hand-written update."""

import chainrule as torch

torch.manual_seed(0)
x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
w1 = (torch.randn(2, 8) * 0.5).requires_grad_()
b1 = torch.zeros(8, requires_grad=True)
w2 = (torch.randn(8, 1) * 0.5).requires_grad_()
b2 = torch.zeros(1, requires_grad=True)

for _ in range(2000):
    prediction = torch.sigmoid(torch.tanh(x @ w1 + b1) @ w2 + b2)
    loss = ((prediction - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p in (w1, b1, w2, b2):
            p -= 1.0 * p.grad
            p.grad = None

print(f"loss {loss.item():.4f}, predictions {prediction.detach().numpy().ravel().round(2)}")
