"""Learning rules beside backprop (chainrule.learning): each rule's gradient against a NumPy
reference, removal, the Trainer and run integration, the alignment metric, and one clear
error for each configuration a rule cannot train."""

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.errors import CheckpointFileError, ConfigError, InputError
from chainrule.learning import ForwardForward, apply_rule
from chainrule.learning.alignment import angle_degrees, true_gradients
from chainrule.nn import functional as F
from chainrule.train import Trainer
from chainrule.train.callbacks.alignment import AlignmentCallback, AlignmentSection


def _mlp(seed=0, sizes=(6, 5, 4, 3)):
    chainrule.manual_seed(seed)
    layers = []
    for index, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).double()


def _batch(rows=7, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features))
    y = rng.integers(0, classes, rows)
    return x, y


def _numpy_forward(model, x):
    """Pre-activations and activations of a Linear/ReLU MLP, in NumPy."""
    weights = [(m.weight.numpy(), m.bias.numpy()) for m in model if isinstance(m, nn.Linear)]
    inputs, pre = [x], []
    for index, (w, b) in enumerate(weights):
        z = inputs[-1] @ w.T + b
        pre.append(z)
        inputs.append(np.maximum(z, 0) if index < len(weights) - 1 else z)
    return weights, inputs, pre


def _output_error(logits, y):
    """d mean cross-entropy / d logits."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    probabilities[np.arange(len(y)), y] -= 1
    return probabilities / len(y)


def _rule_gradients(model, x, y):
    inputs = chainrule.tensor(x, requires_grad=True)
    F.cross_entropy(model(inputs), chainrule.tensor(y)).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return [m.weight.grad.numpy() for m in linears], inputs.grad.numpy()


@pytest.mark.parametrize("rule_name", ["fa", "sign"])
def test_fa_and_sign_send_grad_y_times_their_feedback_matrix_down(rule_name):
    model = _mlp()
    rule = apply_rule(model, rule_name, seed=3)
    x, y = _batch()
    weight_grads, input_grad = _rule_gradients(model, x, y)

    weights, inputs, pre = _numpy_forward(model, x)
    names = [name for name, _ in rule.layers]
    feedback = [
        np.sign(w) if rule_name == "sign" else rule.feedback[name] for (w, _), name in zip(weights, names)
    ]
    grad_out = _output_error(inputs[-1], y)
    expected_weight_grads = []
    for index in reversed(range(len(weights))):
        expected_weight_grads.insert(0, grad_out.T @ inputs[index])  # exact given grad_y
        grad_in = grad_out @ feedback[index]  # B (or sign W) in place of W
        grad_out = grad_in * (pre[index - 1] > 0) if index else grad_in
    for got, expected in zip(weight_grads, expected_weight_grads):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(input_grad, grad_in, rtol=1e-10, atol=1e-12)


def test_dfa_sends_the_output_error_to_every_layer_through_its_own_matrix():
    model = _mlp()
    rule = apply_rule(model, "dfa", seed=5)
    x, y = _batch()
    weight_grads, input_grad = _rule_gradients(model, x, y)

    weights, inputs, pre = _numpy_forward(model, x)
    names = [name for name, _ in rule.layers]
    error = _output_error(inputs[-1], y)
    assert all(rule.feedback[name].shape == (3, w.shape[1]) for name, (w, _) in zip(names, weights))
    expected = [None] * len(weights)
    expected[-1] = error.T @ inputs[-2]
    for index in range(len(weights) - 1):
        # The layer above's input hears e B directly; the ReLU between applies its derivative.
        signal = (error @ rule.feedback[names[index + 1]]) * (pre[index] > 0)
        expected[index] = signal.T @ inputs[index]
    for got, want in zip(weight_grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(input_grad, error @ rule.feedback[names[0]], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 8, 7)),
        (lambda: nn.Conv2d(2, 4, (3, 2), stride=(2, 3), padding=(0, 1), dilation=(1, 2)), (1, 2, 9, 10)),
        (lambda: nn.Conv2d(4, 4, 3, padding="same", groups=2), (2, 4, 5, 5)),
        (lambda: nn.Conv1d(3, 2, 4, stride=3, padding=2), (2, 3, 11)),
    ],
)
def test_a_conv_layers_feedback_is_the_input_gradient_of_the_conv_with_weight_b(layer, shape):
    chainrule.manual_seed(0)
    conv = layer().double()
    model = nn.Sequential(conv)
    rule = apply_rule(model, "fa", seed=1)
    x = chainrule.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    output = model(x)
    grad_output = np.random.default_rng(1).standard_normal(output.shape)
    output.backward(chainrule.tensor(grad_output))

    # Oracle: the engine's own (gradchecked) conv, with B as its weight.
    rule.remove()
    b = chainrule.tensor(rule.feedback["0"])
    x_again = chainrule.tensor(x.numpy(), requires_grad=True)
    with chainrule.no_grad():
        conv.weight.copy_(b)
    (conv(x_again) * chainrule.tensor(grad_output)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x_again.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_removing_a_rule_gives_plain_backprop_and_leaves_the_model_ordinary():
    x, y = _batch()
    plain = _mlp()
    expected, expected_input = _rule_gradients(plain, x, y)
    model = _mlp()
    keys = list(model.state_dict())
    rule = apply_rule(model, "fa")
    assert list(model.state_dict()) == keys  # the feedback matrices are not model weights
    with_rule, _ = _rule_gradients(model, x, y)
    assert not np.allclose(with_rule[0], expected[0])
    rule.remove()
    model.zero_grad()
    got, got_input = _rule_gradients(model, x, y)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got_input, expected_input)


def test_true_gradients_are_backprops_and_leave_grad_alone():
    x, y = _batch()
    expected, _ = _rule_gradients(_mlp(), x, y)
    model = _mlp()
    rule = apply_rule(model, "sign")
    true = true_gradients(rule, F.cross_entropy, chainrule.tensor(x), chainrule.tensor(y))
    for (name, layer), want in zip(rule.layers, expected):
        np.testing.assert_allclose(true[name], want, rtol=1e-12)
        assert layer.weight.grad is None
    assert rule.enabled


def test_angle_degrees_golden_values():
    assert angle_degrees(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == 45.0
    assert angle_degrees(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])) == 90.0
    assert angle_degrees(np.array([1.0, 2.0]), np.array([-2.0, -4.0])) == 180.0
    assert np.isnan(angle_degrees(np.zeros(3), np.ones(3)))


def _loader(rows=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 6))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    return [(chainrule.tensor(x[i : i + 16]), chainrule.tensor(y[i : i + 16])) for i in range(0, rows, 16)]


@pytest.mark.parametrize("rule_name", ["fa", "dfa", "sign"])
def test_the_trainer_records_each_layers_alignment_in_the_history_and_report(rule_name):
    model = _mlp()
    trainer = Trainer(
        model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), learning_rule=rule_name
    )
    history = trainer.fit(
        _loader(), epochs=2, verbose=0, callbacks=[AlignmentCallback(trainer.learning_rule, every=1)]
    )
    assert sum(isinstance(c, AlignmentCallback) for c in trainer.callbacks) == 1
    angles = {key: history[key] for key in history.keys() if key.endswith("/alignment_deg")}
    assert list(angles) == ["0/alignment_deg", "2/alignment_deg", "4/alignment_deg"]
    assert all(0 < a < 180 for a in angles["0/alignment_deg"] + angles["2/alignment_deg"])
    assert max(angles["4/alignment_deg"]) < 1e-5  # the output layer's gradient is exact
    from chainrule.train.report import Figures, RunRecord

    html = AlignmentSection(rule_name).render(RunRecord(history=history), Figures(enabled=False))
    assert "<table>" in html and "2/alignment_deg" not in html and ">2<" in html


def _trainer(rule_name, seed=0):
    model = _mlp()
    rule = apply_rule(model, rule_name, seed=seed)
    return Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), learning_rule=rule)


def test_a_rules_feedback_matrices_travel_with_the_trainers_state():
    trainer = _trainer("fa", seed=1)
    trainer.fit(_loader(), epochs=1, verbose=0)
    state = trainer.state_dict()
    resumed = _trainer("fa", seed=2)
    assert not np.array_equal(resumed.learning_rule.feedback["0"], trainer.learning_rule.feedback["0"])
    resumed.load_state_dict(state)
    for name, matrix in trainer.learning_rule.feedback.items():
        np.testing.assert_array_equal(resumed.learning_rule.feedback[name], matrix)
    with pytest.raises(InputError, match=r"^the checkpoint was trained with learning rule 'fa', not 'sign'"):
        _trainer("sign").load_state_dict(state)
    plain = _mlp()
    with pytest.raises(
        CheckpointFileError, match=r"^the checkpoint was trained with learning rule 'fa'; give"
    ):
        Trainer(plain, nn.CrossEntropyLoss(), optim.SGD(plain.parameters(), lr=0.1)).load_state_dict(state)


def test_forward_forward_resumes_only_with_the_objective_it_trained_with():
    trainer = _trainer("ff")
    state = trainer.state_dict()
    _trainer("ff").load_state_dict(state)  # the same settings: fine
    model = _mlp()
    other = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                    learning_rule=ForwardForward(model, objective="threshold"))
    with pytest.raises(CheckpointFileError, match=r"^the checkpoint was trained with forward-forward's "
                       r"objective 'symmetric' \(sharpness 160\), not objective 'threshold'"):
        other.load_state_dict(state)
    old = {**trainer.learning_rule.state_dict()}
    del old["objective"]  # a checkpoint from before the symmetric objective: threshold-trained
    other.learning_rule.load_state_dict(old)
    with pytest.raises(CheckpointFileError, match=r"objective 'threshold', not objective 'symmetric'"):
        trainer.learning_rule.load_state_dict(old)


def _goodness_loss_reference(objective, rule, positive, negative):
    """One layer's forward-forward loss in NumPy from the goodness (N,) of positive and negative data."""
    if objective == "symmetric":
        return np.log1p(np.exp(rule.sharpness * (negative - positive))).mean()
    below, above = rule.threshold - positive, negative - rule.threshold
    return np.log1p(np.exp(below)).mean() + np.log1p(np.exp(above)).mean()


@pytest.mark.parametrize("objective", ["symmetric", "threshold"])
def test_forward_forward_is_layer_local_and_leaves_an_ordinary_classifier(objective):
    model = _mlp(sizes=(12, 8, 8, 3))
    # negatives known to the reference; a small sharpness keeps the softplus off its linear part
    settings = {"sharpness": 2.0} if objective == "symmetric" else {}
    rule = ForwardForward(model, seed=0, objective=objective, negatives="random", **settings)
    rng = np.random.default_rng(0)
    x, y = chainrule.tensor(rng.standard_normal((10, 12))), chainrule.tensor(rng.integers(0, 3, 10))
    outputs, loss = rule.training_step(x, y, F.cross_entropy)
    np.testing.assert_array_equal(
        outputs.detach().numpy(), model(x).detach().numpy()
    )  # the head's logits: model(x)
    first = model[0].weight.grad.numpy().copy()

    # Layer 1's gradient is its own goodness loss's alone: changing layer 2 changes nothing.
    model.zero_grad()
    with chainrule.no_grad():
        model[2].weight.mul_(-3)
    rule._rng = np.random.default_rng(0)
    rule.training_step(x, y, F.cross_entropy)
    np.testing.assert_array_equal(model[0].weight.grad.numpy(), first)

    # ...and equals the gradient of its objective for layer 1: softplus(s (G(neg) - G(pos))), or
    # softplus(θ - G(pos)) + softplus(G(neg) - θ).
    model.zero_grad()
    rule._rng = np.random.default_rng(0)
    wrong = (y.numpy() + np.random.default_rng(0).integers(1, 3, size=10)) % 3
    rule.training_step(x, y, F.cross_entropy)
    w, b = model[0].weight.numpy(), model[0].bias.numpy()

    def local_loss(weight):
        positive, negative = (
            (np.maximum(rule.embed(x, labels).numpy() @ weight.T + b, 0) ** 2).mean(axis=1)
            for labels in (y.numpy(), wrong)
        )
        return _goodness_loss_reference(objective, rule, positive, negative)

    numeric = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        step = np.zeros_like(w)
        step[index] = 1e-6
        numeric[index] = (local_loss(w + step) - local_loss(w - step)) / 2e-6
    np.testing.assert_allclose(model[0].weight.grad.numpy(), numeric, rtol=1e-5, atol=1e-8)


def test_forward_forward_embeds_the_label_over_the_first_features():
    model = _mlp(sizes=(12, 8, 3))
    rule = apply_rule(model, "ff")
    x = chainrule.tensor(np.arange(24.0).reshape(2, 12) / 10)
    embedded = rule.embed(x, np.array([2, 0])).numpy()
    np.testing.assert_array_equal(embedded[:, 3:], x.numpy()[:, 3:])
    np.testing.assert_array_equal(embedded[:, :3], [[0, 0, 2.3], [2.3, 0, 0]])
    assert rule.predict_by_goodness(x).shape == (2,)


def test_forward_forwards_hard_negatives_follow_the_heads_wrong_predictions():
    rule = apply_rule(_mlp(sizes=(12, 8, 3)), "ff", seed=0)
    labels = np.repeat([0, 2], 2000)
    logits = np.tile([0.0, 0.0, 20.0], (4000, 1))  # the head is sure of class 2 everywhere
    negatives = rule._negative_labels(labels, logits)
    assert not np.any(negatives == labels)  # never the true label
    # Label 0's wrong predictions are almost all 2; label 2's are 0 or 1 evenly.
    assert np.mean(negatives[:2000] == 2) > 0.99
    assert 0.45 < np.mean(negatives[2000:] == 0) < 0.55


def test_forward_forwards_goodness_is_read_before_a_normalisation_layer():
    # Hinton's normalisation between layers: the next layer sees the activity vector normalised,
    # but the goodness is the activity's own (after a LayerNorm it would be 1 for every input).
    chainrule.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(12, 8), nn.ReLU(), nn.LayerNorm(8, elementwise_affine=False), nn.Linear(8, 3)
    ).double()
    rule = ForwardForward(model, seed=0, negatives="random")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((10, 12)), rng.integers(0, 3, 10)
    rule.training_step(chainrule.tensor(x), chainrule.tensor(y), F.cross_entropy)
    wrong = (y + np.random.default_rng(0).integers(1, 3, size=10)) % 3
    w, b = model[0].weight.numpy(), model[0].bias.numpy()
    positive, negative = (
        (np.maximum(rule.embed(chainrule.tensor(x), labels).numpy() @ w.T + b, 0) ** 2).mean(axis=1)
        for labels in (y, wrong)
    )
    expected = _goodness_loss_reference("symmetric", rule, positive, negative)
    assert rule.last_goodness_loss == pytest.approx(expected, rel=1e-9)


def test_forward_forward_on_tanh_layers_takes_a_reachable_threshold():
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3))
    assert ForwardForward(model, objective="threshold").threshold == 0.25  # tanh's goodness is below 1
    with pytest.raises(
        ConfigError, match=r"^learning rule 'ff': a Tanh layer's goodness .* threshold 2 can"
    ) as raised:
        ForwardForward(model, objective="threshold", threshold=2.0)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"negatives": "easy"}, r"negatives must be 'hard' or 'random', not 'easy'$"),
        ({"objective": "hinge"}, r"objective must be 'symmetric' or 'threshold', not 'hinge'$"),
        ({"threshold": 0.5}, r"a threshold applies to objective='threshold' only; leave it out, or"),
        ({"objective": "threshold", "sharpness": 4}, r"a sharpness applies to objective='symmetric' only"),
        ({"sharpness": 0}, r"sharpness must be above 0, not 0$"),
    ],
)
def test_forward_forwards_bad_settings_are_one_clear_error(settings, message):
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3))
    with pytest.raises(ConfigError, match="^learning rule 'ff': " + message) as raised:
        ForwardForward(model, **settings)
    assert "\n" not in str(raised.value)


def test_forward_forwards_default_is_the_symmetric_objective():
    chainrule.manual_seed(0)
    rule = apply_rule(nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3)), "ff")
    assert (rule.objective, rule.sharpness) == ("symmetric", 160.0)
    assert repr(rule) == "ForwardForward(hidden_layers=1, objective='symmetric', sharpness=160)"


def _ends_in_conv():
    return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Unflatten(1, (1, 4)), nn.Conv1d(1, 2, 3))


@pytest.mark.parametrize(
    "make, rule, message",
    [
        (lambda: _mlp(), "backprop", r"^learning rule 'backprop' is not one of bp, fa, dfa, sign, ff$"),
        (
            _ends_in_conv,
            "dfa",
            r"^learning rule 'dfa' sends the output error .* ends in Conv1d '3'; end the model",
        ),
        (
            lambda: nn.Sequential(nn.ReLU()),
            "fa",
            r"^learning rule 'fa' replaces .* Sequential has none; train it with 'bp'$",
        ),
        (
            lambda: nn.Sequential(nn.Conv1d(1, 2, 2, padding="same")),
            "sign",
            r"^learning rule 'sign': layer '0' pads unevenly",
        ),
        (_ends_in_conv, "ff", r"^learning rule 'ff' trains an MLP .* has Unflatten; use --model mlp"),
        (
            lambda: _mlp(sizes=(2, 4, 3)),
            "ff",
            r"^learning rule 'ff' writes the label over the first 3 input features, but the model takes "
            "only 2",
        ),
    ],
)
def test_each_configuration_a_rule_cannot_train_is_one_clear_error(make, rule, message):
    with pytest.raises(ConfigError, match=message) as raised:
        apply_rule(make(), rule)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("rule_name", ["fa", "dfa", "sign"])
def test_a_feedback_rule_under_checkpointing_gives_the_same_gradients_bit_for_bit(rule_name):
    # Checkpointing reruns each segment's forward in backward, so the rule's hooks fire twice.
    x, y = _batch(rows=8)
    grads = []
    for segments in (0, 2):
        model = _mlp()
        trainer = Trainer(
            model,
            nn.CrossEntropyLoss(),
            optim.SGD(model.parameters(), lr=0.1),
            learning_rule=rule_name,
            checkpoint_segments=segments,
        )
        trainer.loss_fn(trainer._forward_to_train(chainrule.tensor(x)), chainrule.tensor(y)).backward()
        grads.append([parameter.grad.numpy() for parameter in model.parameters()])
    for plain, checkpointed in zip(*grads):
        np.testing.assert_array_equal(checkpointed, plain)


def test_forward_forward_refuses_checkpoint_segments_in_one_sentence():
    model = _mlp(sizes=(12, 8, 8, 3))
    with pytest.raises(ConfigError, match=r"^checkpoint_segments=2 would do nothing with learning rule 'ff'"):
        Trainer(
            model,
            nn.CrossEntropyLoss(),
            optim.SGD(model.parameters(), lr=0.1),
            learning_rule="ff",
            checkpoint_segments=2,
        )


def test_dfa_without_the_final_layer_in_the_loss_is_named():
    model = _mlp()
    apply_rule(model, "dfa")
    hidden = model[:2](chainrule.tensor(np.ones((2, 6)), requires_grad=True))
    with pytest.raises(RuntimeError, match="dfa: layer '2' was reached in backward without the output error"):
        model[2](hidden).sum().backward()


def test_a_run_records_its_rule_its_alignment_and_its_feedback_matrices(tmp_path):
    pytest.importorskip("sklearn", reason="the run's dataset (digits) comes from scikit-learn")
    from chainrule.train.checkpoint import load_state
    from chainrule.train.run import load_config, train_run

    config = {"dataset": "digits", "hidden": [16], "epochs": 1, "out": str(tmp_path), "learning_rule": "dfa"}
    run_dir = train_run(config, verbose=0).run_dir
    assert load_config(run_dir / "config.toml")["learning_rule"] == "dfa"  # what --resume reads back
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"fc1/alignment_deg", "fc2/alignment_deg"} <= set(header)
    assert "Alignment with backprop" in (run_dir / "report.html").read_text()
    # fc1's input is the data, which needs no gradient: only fc2's matrix exists.
    assert set(load_state(run_dir / "checkpoint.safetensors")["learning_rule"]["feedback"]) == {"fc2"}


def test_a_resumed_fit_continues_a_rule_bit_for_bit(tmp_path):
    from chainrule.train import ModelCheckpoint

    whole = _trainer("fa", seed=1)
    whole.fit(_loader(), epochs=2, verbose=0)
    part = _trainer("fa", seed=1)
    part.fit(_loader(), epochs=1, verbose=0, callbacks=[ModelCheckpoint(tmp_path, "checkpoint.safetensors")])
    resumed = _trainer("fa", seed=7)  # a different draw, replaced by the checkpoint's matrices
    resumed.fit(_loader(), epochs=2, verbose=0, resume_from=tmp_path / "checkpoint.safetensors")
    for name, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name].numpy(), value.numpy())


def test_the_command_line_refuses_an_unknown_rule_in_one_line(tmp_path, capsys):
    from chainrule.cli import main

    assert main(["train", "--learning-rule", "hebb", "--out", str(tmp_path), "--verbose", "0"]) == 2
    error = capsys.readouterr().err
    assert error == "chainrule train: error: learning_rule = 'hebb' is not one of bp, fa, dfa, sign, ff\n"


def test_forward_forward_on_a_regression_run_is_one_clear_error(tmp_path):
    pytest.importorskip("sklearn", reason="the run's dataset (diabetes) comes from scikit-learn")
    from chainrule.train.run import train_run

    with pytest.raises(ConfigError, match=r"^learning rule 'ff' classifies .* diabetes is a regression task"):
        train_run({"dataset": "diabetes", "learning_rule": "ff", "out": str(tmp_path)}, verbose=0)
    assert list(tmp_path.iterdir()) == []  # refused before a run folder was made


def test_forward_forward_by_default_learns_blobs_with_its_head_and_its_goodness():
    # Three Gaussian blobs in 20-D; the first 3 features are 0, so the label written there is
    # the only thing positive and negative data differ in. A rule whose layers learnt nothing
    # leaves the goodness classifier at chance (1/3).
    rng = np.random.default_rng(0)
    centres = np.zeros((3, 20))
    centres[:, 3:] = rng.standard_normal((3, 17))
    y = rng.integers(0, 3, 600)
    x = (centres[y] + 0.7 * rng.standard_normal((600, 20))).astype(np.float32)
    x[:, :3] = 0
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer, learning_rule="ff")
    batches = [(chainrule.tensor(x[i : i + 50]), chainrule.tensor(y[i : i + 50])) for i in range(0, 500, 50)]
    trainer.fit(batches, epochs=5, verbose=0)
    test_x, test_y = x[500:], y[500:]
    head = model(chainrule.tensor(test_x)).detach().numpy().argmax(axis=1)
    assert np.mean(head == test_y) > 0.9
    assert np.mean(trainer.learning_rule.predict_by_goodness(chainrule.tensor(test_x)) == test_y) > 0.9
