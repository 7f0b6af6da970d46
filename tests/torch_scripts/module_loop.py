"""An nn.Module classifier: device handling, .data initialisation, a training loop with a
DataLoader, a scheduler, and a save/load round trip of model and optimizer state."""

import io
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.manual_seed(0)
torch.cuda.manual_seed_all(0)
rng = np.random.default_rng(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 16)
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        return self.out(F.relu(self.hidden(x)))


def build():
    model = Net().to(device)
    for parameter in model.parameters():  # the same weights in any library
        parameter.data = torch.tensor(rng.normal(scale=0.3, size=tuple(parameter.shape)), dtype=torch.float32)
    return model


model = build()
features = torch.tensor(rng.normal(size=(60, 4)), dtype=torch.float32)
labels = torch.tensor(rng.integers(0, 3, size=60))
loader = DataLoader(TensorDataset(features, labels), batch_size=20, shuffle=False)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
losses = []
for _epoch in range(4):
    model.train()
    for batch, target in loader:
        batch, target = batch.to(device), target.to(device)
        optimizer.zero_grad()
        loss = nn.CrossEntropyLoss()(model(batch), target)
        loss.backward()
        optimizer.step()
    scheduler.step()
    losses.append(loss.item())

buffer = io.BytesIO()
torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 4}, buffer)
buffer.seek(0)
state = torch.load(buffer, map_location=device, weights_only=True)
restored = build()
restored.load_state_dict(state["model"])
model.eval()
restored.eval()
with torch.no_grad():
    same = torch.equal(model(features), restored(features))
    accuracy = (model(features).argmax(dim=1) == labels).float().mean().item()
print(
    json.dumps({"losses": losses, "accuracy": accuracy, "epoch": state["epoch"], "restored_same": bool(same)})
)
