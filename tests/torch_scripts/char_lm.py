"""A character-level language model (embedding, GRU, linear head) trained on a small
synthetic corpus with NAdam and a cosine schedule, then sampled with torch.multinomial."""

import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

words = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"]
chars = sorted(set("".join(words)))
stoi = {ch: i + 1 for i, ch in enumerate(chars)}  # 0 marks the start and end of a word
itos = {i: ch for ch, i in stoi.items()}
vocab_size, block = len(stoi) + 1, 8


def encode(word):
    ids = [0] + [stoi[ch] for ch in word] + [0]
    ids = ids + [0] * (block + 1 - len(ids))
    return ids[: block + 1]


data = torch.tensor([encode(w) for w in words])
inputs, targets = data[:, :-1], data[:, 1:]


class CharModel(nn.Module):
    def __init__(self, embed=8, hidden=24):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, idx, state=None):
        out, state = self.rnn(self.embed(idx), state)
        return self.head(out), state


model = CharModel().double()
rng = np.random.default_rng(0)
with torch.no_grad():
    for p in model.parameters():  # the same weights in every library
        p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, tuple(p.shape))))

optimizer = torch.optim.NAdam(model.parameters(), lr=0.03)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=40)
losses = []
for _ in range(40):
    logits, _ = model(inputs)
    loss = F.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    losses.append(loss.item())

model.eval()
generator = torch.Generator().manual_seed(42)
samples = []
with torch.no_grad():
    first_probs = F.softmax(model(torch.zeros(1, 1, dtype=torch.long))[0][0, -1], dim=-1)
    for _ in range(5):
        idx, state, name = torch.zeros(1, 1, dtype=torch.long), None, ""
        for _ in range(12):
            logits, state = model(idx, state)
            probs = F.softmax(logits[:, -1], dim=-1)
            idx = torch.multinomial(probs, num_samples=1, generator=generator)
            if idx.item() == 0:
                break
            name += itos[idx.item()]
        samples.append(name)

print(json.dumps({
    "losses": [round(v, 7) for v in losses[::10]] + [round(losses[-1], 7)],
    "first_char_probs": [round(v, 7) for v in first_probs.tolist()[:6]],
    "samples_use_the_alphabet": all(set(s) <= set(chars) for s in samples),
    "sample_count": len(samples),
}))
