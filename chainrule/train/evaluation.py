"""Scoring a trained model: test metrics, the attributions the report shows, and the report
itself (:func:`write_run_report`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.train.data_prep import PreparedData, make_loader
from chainrule.train.run_folder import REPORT_FILE

TEST_METRICS = {
    "classification": ["accuracy", "precision", "recall", "f1"],
    "regression": ["mse", "mae", "r2"],
}


TRAIN_METRICS = {"classification": ["accuracy"], "regression": ["mae"]}


def evaluate_model(trainer: Any, data: PreparedData) -> dict[str, float]:
    """Loss and the task's metrics on the test split (leaves the confusion matrix in trainer)."""
    return evaluate_arrays(trainer, data.x_test, data.y_test, data.task)


def evaluate_arrays(trainer: Any, x: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Loss and the task's test metrics on ``(x, y)`` (leaves the confusion matrix in trainer)."""
    from chainrule.train.trainer import resolve_metrics

    saved_metrics = trainer.metrics
    trainer.metrics = resolve_metrics(TEST_METRICS[task], trainer.loss_fn)
    try:
        return trainer.evaluate(make_loader(x, y, 256))
    finally:
        trainer.metrics = saved_metrics


ATTRIBUTION_IMAGES = 4


ATTRIBUTION_ROWS = 48


ATTRIBUTION_STEPS = 32


def attribution_summary(
    model: Any,
    data: PreparedData,
    images: int = ATTRIBUTION_IMAGES,
    rows: int = ATTRIBUTION_ROWS,
    steps: int = ATTRIBUTION_STEPS,
) -> dict[str, Any] | None:
    """Integrated gradients (from an all-zero baseline) on the first test samples, as the
    report's "Attributions" section shows them.

    For a classifier the attributions are of the predicted class's score; for a regression
    model of its single output. Image data gives ``images`` examples with the input and the
    absolute attribution per pixel; other data ranks the features by mean absolute attribution
    over ``rows`` samples. Either way the completeness gap is summarised: how far each sample's
    attributions miss ``f(x) - f(baseline)``. ``None`` for models with several regression
    outputs (no single output to explain).

    Returns:
        ``{"method", "steps", "target", "samples", "images": [{"input", "heat", "true",
        "predicted"}], "ranking": [(feature, score)], "gap_mean", "gap_max",
        "difference_mean"}``.
    """
    from chainrule.creation import from_numpy
    from chainrule.grad_mode import no_grad
    from chainrule.interpret import integrated_gradients, rank_features

    is_image = data.image_shape is not None
    x = np.ascontiguousarray(data.x_test[: images if is_image else rows])
    was_training = getattr(model, "training", False)
    model.eval()  # dropout would make the attributions random
    try:
        with no_grad():
            outputs = np.asarray(model(from_numpy(x)).array)
            baseline_outputs = np.asarray(model(from_numpy(np.zeros_like(x))).array)
        if data.task == "classification":
            target: np.ndarray | None = outputs.argmax(axis=1)
            picked = np.arange(len(x))
            difference = outputs[picked, target] - baseline_outputs[picked, target]
        elif outputs.ndim == 2 and outputs.shape[1] == 1:
            target = None
            difference = (outputs - baseline_outputs)[:, 0]
        else:
            return None
        result = integrated_gradients(model, x, target=target, steps=steps)
    finally:
        model.train(was_training)
    attributions = np.asarray(result.attributions.array, dtype=np.float64)
    gap = np.asarray(result.completeness_gap.array, dtype=np.float64)
    summary: dict[str, Any] = {
        "method": "integrated gradients",
        "steps": steps,
        "target": "predicted class's score" if target is not None else "model's output",
        "samples": len(x),
        "images": [],
        "ranking": [],
        "gap_mean": float(gap.mean()),
        "gap_max": float(gap.max()),
        "difference_mean": float(np.abs(difference).mean()),
    }
    if is_image:
        assert target is not None  # the image datasets are classification tasks
        for index in range(len(x)):
            heat = np.abs(attributions[index]).reshape(data.image_shape)
            summary["images"].append(
                {
                    "input": x[index].reshape(data.image_shape),
                    "heat": heat.sum(axis=0) if heat.ndim == 3 else heat,
                    "true": int(data.y_test[index]),
                    "predicted": int(target[index]),
                }
            )
    else:
        flat = attributions.reshape(len(x), -1)
        names = data.feature_names
        if names is not None and len(names) != flat.shape[1]:
            names = None
        summary["ranking"] = rank_features(flat, names, top=15)
    return summary


def write_run_report(
    run_dir: Path,
    trainer: Any,
    config: Mapping[str, Any],
    data: PreparedData,
    test_metrics: dict[str, float],
    data_report: Any = None,
    model_note: str | None = None,
) -> None:
    """report.html of a finished run: the trainer's record plus test metrics, misclassified
    images (or, for regression, predicted against actual values), the data check's findings
    and the attributions. Without ``test_metrics`` (a run that diverged before any good epoch)
    nothing is drawn from the model's outputs: they would be the diverged model's."""
    from chainrule.train.report import RunRecord, write_report
    from chainrule.train.trainer import class_predictions

    scored = bool(test_metrics) and trainer.last_outputs is not None  # last_outputs are the test split's
    classification = data.task == "classification"
    examples = []
    if scored and classification and data.image_shape is not None:
        predicted = class_predictions(trainer.last_outputs, trainer.loss_fn)
        wrong = np.flatnonzero(predicted != trainer.last_targets)[:16]
        examples = [
            {
                "input": data.x_test[i].reshape(data.image_shape),
                "true": int(data.y_test[i]),
                "predicted": int(predicted[i]),
                "index": int(i),
            }
            for i in wrong
        ]
    predictions = None
    if scored and not classification:
        predictions = {"actual": trainer.last_targets, "predicted": trainer.last_outputs, "split": "test"}
    run = RunRecord.from_trainer(
        trainer,
        title=f"chainrule run · {run_dir.name}",
        dataset=config["dataset"],
        model_name=config["model"],
        task=data.task,
        test_metrics=test_metrics,
        class_names=data.class_names,
        examples=examples,
        confusion_matrix=trainer.confusion_matrix if scored and classification else None,
        predictions=predictions,
        data_report=data_report,
        attributions=attribution_summary(trainer.model, data) if scored else None,
        model_note=model_note,
    )
    write_report(run_dir / REPORT_FILE, run)
