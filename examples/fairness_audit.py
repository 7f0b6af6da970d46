"""Fairness audit of a small classifier on real patient data: scikit-learn's diabetes table.

The data: 442 diabetes patients, ten baseline measurements (age, sex, body-mass index, blood
pressure, six blood serum values) and a score of disease progression one year later (Efron et
al., 2004, bundled with scikit-learn, so no download). We call a patient "high risk" when the
score is above the median of the training split, train a small MLP to predict it, and audit
its predictions on the held-out patients by sex: does the model flag one sex as high risk
more often (demographic parity), and does it miss or falsely flag one sex more often
(equalized odds)?

The table codes sex as 1 and 2, the values of the original study; which code is which sex is
not documented, so the groups are left unnamed. The model sees sex as one of its inputs.

Run:  python examples/fairness_audit.py [--html audit.html]
"""

from __future__ import annotations

import argparse

import numpy as np

import chainrule
from chainrule import datasets, nn, optim
from chainrule.fairness.audit import audit_model
from chainrule.utils.data import DataLoader, TensorDataset


def sex_groups(standardised_sex: np.ndarray) -> np.ndarray:
    """The original codes 1 and 2 back from the standardised column: standardising shifts and
    scales by a positive number, so the lower code is exactly the negative values."""
    if len(np.unique(standardised_sex)) != 2:
        raise ValueError("expected the sex column to hold exactly two distinct values")
    return np.where(standardised_sex < 0, 1, 2)


def train_classifier(x: np.ndarray, y: np.ndarray, epochs: int = 60) -> nn.Module:
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                        generator=chainrule.Generator().manual_seed(0))
    model.train()
    for _ in range(epochs):
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss_fn(model(inputs), targets).backward()
            optimizer.step()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", help="also write the audit as an HTML fragment to this file")
    args = parser.parse_args()

    data = datasets.load("diabetes", seed=0)  # features standardised with training statistics
    median = np.median(data.y_train)
    y_train = (data.y_train > median).astype(np.int64)  # 1 = high risk
    y_test = (data.y_test > median).astype(np.int64)  # the training median: no peeking at test
    sex_column = data.feature_names.index("sex")

    model = train_classifier(data.x_train, y_train)
    groups = sex_groups(data.x_test[:, sex_column])
    report = audit_model(model, data.x_test, y_test, groups, sensitive_name="sex")
    report.pos_label = "high risk"

    print(f"Diabetes progression above {median:.0f} (the training median) = high risk; "
          f"{len(y_train)} training and {len(y_test)} held-out patients.\n")
    print(report.to_text())
    print()
    for sentence in report.explanations().values():
        print(f"- {sentence}")
    # Context the figures leave out: demographic parity compares predictions only, so part of
    # a gap in selection rates can come from the groups' true rates differing.
    base_rates = ", ".join(f"sex {g}: {y_test[groups == g].mean():.3f}" for g in (1, 2))
    print(f"\nTrue high-risk rate in the held-out patients: {base_rates}.")
    if args.html:
        with open(args.html, "w", encoding="utf-8") as file:
            file.write(report.to_html())
        print(f"\nHTML written to {args.html}")


if __name__ == "__main__":
    main()
