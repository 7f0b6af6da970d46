"""An ordinary PyTorch training script for MNIST: model, DataLoader, optimizer, scheduler, and
a train/eval loop. It is written for PyTorch; chainrule runs it unchanged once the imports
say chainrule (tests/test_pytorch_script.py swaps them and runs both).

Usage: python examples/pytorch_mnist.py [DATA_DIR] [EPOCHS] [LIMIT]
DATA_DIR holds t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (the MNIST test split;
the first 80% trains, the rest is held out).
"""

import gzip
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(800, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout(x), 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def train(model, loader, optimizer, epoch):
    model.train()
    for data, target in loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: last batch loss {loss.item():.4f}")


def test(model, loader):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    n = len(loader.dataset)
    print(f"test: average loss {test_loss / n:.4f}, accuracy {correct}/{n} ({100.0 * correct / n:.1f}%)")
    return correct / n


def main(data_dir, epochs=2, limit=None):
    torch.manual_seed(0)
    images = read_idx(f"{data_dir}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    labels = read_idx(f"{data_dir}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    if limit:
        images, labels = images[:limit], labels[:limit]
    images = (images - 0.1307) / 0.3081
    split = int(0.8 * len(images))
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(labels)
    train_set = TensorDataset(x[:split], y[:split])
    test_set = TensorDataset(x[split:], y[split:])
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True,
                              generator=torch.Generator().manual_seed(0))
    test_loader = DataLoader(test_set, batch_size=500)
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, epochs + 1):
        train(model, train_loader, optimizer, epoch)
        accuracy = test(model, test_loader)
        scheduler.step()
    return accuracy


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(arguments[0] if arguments else "../shared/data/mnist",
         int(arguments[1]) if len(arguments) > 1 else 2,
         int(arguments[2]) if len(arguments) > 2 else None)
