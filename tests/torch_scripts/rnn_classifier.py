"""An LSTM sequence classifier on padded variable-length sequences (no packing): the last
real step of each sequence is picked with gather, trained with RAdam and StepLR."""

import json

import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(0)
# the class is whether the sequence's values sum to more than zero; lengths 3 to 8, padded with 0
lengths = rng.integers(3, 9, size=48)
sequences = np.zeros((48, 8, 1))
for k, length in enumerate(lengths):
    sequences[k, :length, 0] = rng.normal(0.0, 1.0, length)
labels = (sequences.sum(axis=(1, 2)) > 0).astype(np.int64)
x = torch.tensor(sequences, dtype=torch.float32)
y = torch.from_numpy(labels)
last_step = torch.tensor(lengths - 1)


class Classifier(nn.Module):
    def __init__(self, hidden=12):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 2)

    def forward(self, x, last_step):
        outputs, (h_n, c_n) = self.lstm(x)
        index = last_step.view(-1, 1, 1).expand(-1, 1, outputs.size(2))
        final = outputs.gather(1, index).squeeze(1)
        return self.fc(final)


model = Classifier()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, tuple(p.shape)).astype(np.float32)))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.RAdam(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.5)
losses = []
for _ in range(60):
    optimizer.zero_grad()
    loss = criterion(model(x, last_step), y)
    loss.backward()
    optimizer.step()
    scheduler.step()
    losses.append(loss.item())

with torch.no_grad():
    predictions = model(x, last_step).argmax(dim=1)
accuracy = (predictions == y).float().mean().item()
print(json.dumps({
    "losses": [round(v, 6) for v in losses[::15]] + [round(losses[-1], 6)],
    "accuracy": round(accuracy, 6),
    "lr": scheduler.get_last_lr()[0],
}))
