"""A variational autoencoder on small synthetic binary images: reparameterisation trick,
binary cross-entropy reconstruction plus the KL divergence to a unit Gaussian, Adam."""

import json

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

rng = np.random.default_rng(0)
# 64 images of 6x6: a horizontal or a vertical bar at a random position, with a little noise
images = np.zeros((64, 6, 6))
for k in range(64):
    position = rng.integers(0, 6)
    if k % 2:
        images[k, position, :] = 1.0
    else:
        images[k, :, position] = 1.0
images = np.clip(images + rng.uniform(0, 0.1, images.shape), 0, 1)
data = torch.from_numpy(images).float().view(-1, 36)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(36, 16)
        self.fc21 = nn.Linear(16, 2)
        self.fc22 = nn.Linear(16, 2)
        self.fc3 = nn.Linear(2, 16)
        self.fc4 = nn.Linear(16, 36)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, eps):
        std = torch.exp(0.5 * logvar)
        return mu + eps * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x, eps):
        mu, logvar = self.encode(x.view(-1, 36))
        return self.decode(self.reparameterize(mu, logvar, eps)), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 36), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


model = VAE()
with torch.no_grad():
    for p in model.parameters():  # the same weights in every library
        p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, tuple(p.shape)).astype(np.float32)))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
# the noise of the reparameterisation, drawn once so both libraries see the same draws
noise = torch.from_numpy(rng.standard_normal((30, 64, 2)).astype(np.float32))

model.train()
losses = []
for epoch in range(30):
    optimizer.zero_grad()
    recon, mu, logvar = model(data, noise[epoch])
    loss = loss_function(recon, data, mu, logvar)
    loss.backward()
    optimizer.step()
    losses.append(loss.item() / len(data))

model.eval()
with torch.no_grad():
    decoded = model.decode(torch.zeros(1, 2)).view(6, 6)
print(json.dumps({
    "losses": [round(v, 5) for v in losses[::10]] + [round(losses[-1], 5)],
    "decoded_mean": round(decoded.mean().item(), 5),
    "learned": losses[-1] < losses[0],
}))
