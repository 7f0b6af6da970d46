"""Checkpoint and resume: model, optimizer and scheduler state saved with torch.save mid-way
and loaded into fresh objects (map_location, weights_only) continue exactly as an unbroken run.
Device handling throughout: the model and batches move to `device`, which is the CPU here."""

import io
import json

import numpy as np
import torch
import torch.nn as nn

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
rng = np.random.default_rng(0)
x = torch.from_numpy(rng.normal(size=(32, 5))).float()
y = torch.from_numpy(rng.normal(size=(32, 1))).float()
initial = [rng.normal(0.0, 0.4, shape).astype(np.float32) for shape in [(8, 5), (8,), (1, 8), (1,)]]


def build():
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).to(device)
    with torch.no_grad():
        for p, value in zip(model.parameters(), initial):
            p.copy_(torch.from_numpy(value))
    optimizer = torch.optim.Adamax(model.parameters(), lr=0.02, weight_decay=1e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=12)
    return model, optimizer, scheduler


def train(model, optimizer, scheduler, steps):
    losses = []
    for _ in range(steps):
        inputs, targets = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


straight = build()
straight_losses = train(*straight, 12)

model, optimizer, scheduler = build()
first_half = train(model, optimizer, scheduler, 6)
buffer = io.BytesIO()
torch.save({"epoch": 6, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict()}, buffer)
buffer.seek(0)
checkpoint = torch.load(buffer, map_location=device, weights_only=True)
resumed = build()
resumed[0].load_state_dict(checkpoint["model"])
resumed[1].load_state_dict(checkpoint["optimizer"])
resumed[2].load_state_dict(checkpoint["scheduler"])
second_half = train(*resumed, 12 - checkpoint["epoch"])

pairs = zip(resumed[0].parameters(), straight[0].parameters())
difference = max((a - b).abs().max().item() for a, b in pairs)
print(json.dumps({
    "losses": [round(v, 7) for v in straight_losses[::3]],
    "resumed_losses_equal": first_half + second_half == straight_losses,
    "max_parameter_difference": difference,
    "lr": round(resumed[2].get_last_lr()[0], 9),
    "device": str(next(resumed[0].parameters()).device),
}))
