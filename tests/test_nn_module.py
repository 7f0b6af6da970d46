"""Module: registration (and its refusals), traversal, state dicts, modes, dtype changes,
hooks, repr, containers; and nn.utils (gradient clipping, parameter vectors)."""

from __future__ import annotations

import copy
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import chainrule
from chainrule import nn


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class WithBuffers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(chainrule.ones(3))
        self.register_buffer("mean", chainrule.zeros(3))
        self.register_buffer("scratch", chainrule.zeros(2), persistent=False)
        self.inner = TwoLayer()

    def forward(self, x):
        return x * self.scale - self.mean


# ------------------------------------------------------------------------------ registration
def test_parameters_and_children_are_registered_in_assignment_order():
    model = WithBuffers()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "inner.fc1.weight", "inner.fc1.bias", "inner.fc2.weight", "inner.fc2.bias"]
    assert [name for name, _ in model.named_children()] == ["inner"]
    assert [name for name, _ in model.named_modules()] == ["", "inner", "inner.fc1", "inner.act", "inner.fc2"]
    assert [name for name, _ in model.named_buffers()] == ["mean", "scratch"]
    assert len(list(model.parameters(recurse=False))) == 1
    assert model.get_submodule("inner.fc2") is model.inner.fc2
    assert model.get_parameter("inner.fc1.bias") is model.inner.fc1.bias
    assert model.get_buffer("mean") is model.mean


def test_named_parameters_prefix():
    names = [name for name, _ in TwoLayer().named_parameters(prefix="net")]
    assert names == ["net.fc1.weight", "net.fc1.bias", "net.fc2.weight", "net.fc2.bias"]


def test_shared_parameters_and_modules_are_listed_once_but_saved_under_each_name():
    model = nn.Module()
    shared = nn.Linear(2, 2)
    model.a = shared
    model.b = shared
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_modules()] == ["", "a"]
    assert list(model.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]


def test_plain_tensor_that_requires_grad_is_refused():
    model = nn.Module()
    with pytest.raises(TypeError, match=r"Module\.w: .*nn\.Parameter.*register_buffer"):
        model.w = chainrule.randn(3, requires_grad=True)
    with pytest.raises(TypeError, match="nn.Parameter"):
        model.w = chainrule.randn(3, requires_grad=True) * 0.01  # computed, still a would-be weight


def test_plain_tensor_without_grad_is_a_plain_attribute():
    model = nn.Module()
    model.cache = chainrule.zeros(2)
    assert model.cache.shape == (2,)
    assert list(model.parameters()) == [] and list(model.buffers()) == []


def test_activation_stored_during_forward_is_allowed():
    class Recorder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            self.last = self.fc(x)
            return self.last

    model = Recorder()
    out = model(chainrule.randn(1, 2))
    assert model.last is out
    assert [name for name, _ in model.named_parameters()] == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("value, suggestion", [
    ([nn.Linear(2, 2), nn.Linear(2, 2)], "ModuleList"),
    ((nn.Linear(2, 2),), "ModuleList"),
    ([nn.Parameter(chainrule.ones(2))], "ParameterList"),
    ({"a": nn.Linear(2, 2)}, "ModuleDict"),
])
def test_python_containers_of_layers_are_refused(value, suggestion):
    model = nn.Module()
    with pytest.raises(TypeError, match=suggestion):
        model.layers = value


def test_python_containers_of_other_things_are_fine():
    model = nn.Module()
    model.sizes = [1, 2, 3]
    model.empty = []
    assert model.sizes == [1, 2, 3] and model.empty == []


def test_plain_list_of_already_registered_layers_is_fine():
    model = nn.Module()
    model.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    model.shortcuts = [model.layers[1], model.layers[0].weight]  # registered elsewhere: hides nothing
    assert len(list(model.parameters())) == 4
    with pytest.raises(TypeError, match="ModuleList"):
        model.more = [model.layers[0], nn.Linear(2, 2)]  # one new layer would be missed


def test_assigning_before_init_is_refused():
    class Forgot(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_none_keeps_the_slot_and_non_parameter_is_refused():
    layer = nn.Linear(3, 2)
    layer.bias = None
    assert "bias" in layer._parameters and layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert list(layer.state_dict()) == ["weight"]
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = chainrule.zeros(2, 3)
    layer.bias = nn.Parameter(chainrule.zeros(2))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_child_slot_accepts_none_but_not_other_values():
    model = TwoLayer()
    model.act = None
    assert [name for name, _ in model.named_children()] == ["fc1", "fc2"]
    assert "(act): None" in repr(model)
    with pytest.raises(TypeError, match="child module 'act'"):
        model.act = 3


def test_buffer_slot_accepts_tensors_and_none():
    model = WithBuffers()
    model.mean = chainrule.ones(3)
    assert model.mean.array.tolist() == [1.0, 1.0, 1.0]
    assert "mean" in model.state_dict()
    with pytest.raises(TypeError, match="buffer 'mean'"):
        model.mean = [1.0, 2.0]


def test_reassigning_a_name_as_pytorch():
    model = nn.Module()
    model.x = nn.Linear(1, 1)
    model.x = nn.Parameter(chainrule.ones(1))  # a Parameter replaces a child
    assert "x" in model._parameters and "x" not in model._modules
    with pytest.raises(TypeError, match="parameter 'x'"):  # but a child can't replace a parameter
        model.x = nn.Linear(1, 1)


def test_register_errors():
    model = TwoLayer()
    with pytest.raises(KeyError, match="already exists"):
        model.register_buffer("fc1", chainrule.zeros(1))
    with pytest.raises(KeyError, match=r"contain \"\.\""):
        model.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="Parameter or None"):
        model.register_parameter("p", chainrule.zeros(1))
    with pytest.raises(TypeError, match="Tensor or None"):
        model.register_buffer("b", np.zeros(1))


def test_getattr_delattr_dir():
    model = WithBuffers()
    with pytest.raises(AttributeError, match="'WithBuffers' object has no attribute 'nope'"):
        _ = model.nope
    assert {"scale", "mean", "inner"} <= set(dir(model))
    del model.scale
    assert "scale" not in [name for name, _ in model.named_parameters()]
    del model.inner
    assert list(model.children()) == []


def test_module_without_forward():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(chainrule.ones(1))


# ------------------------------------------------------------------------------ state dicts
def test_state_dict_holds_params_and_persistent_buffers_detached_and_shared():
    model = WithBuffers()
    state = model.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == ["scale", "mean", "inner.fc1.weight", "inner.fc1.bias", "inner.fc2.weight",
                           "inner.fc2.bias"]
    assert all(not value.requires_grad and value.grad_fn is None for value in state.values())
    assert state["scale"].array is model.scale.array  # shares memory, as PyTorch's
    assert model.state_dict(keep_vars=True)["scale"] is model.scale


def test_state_dict_round_trip_reproduces_outputs():
    source, target = TwoLayer(), TwoLayer()
    x = chainrule.randn(5, 4)
    assert not np.allclose(source(x).array, target(x).array)
    weight_object = target.fc1.weight
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    np.testing.assert_array_equal(source(x).array, target(x).array)
    assert target.fc1.weight is weight_object  # copied into, not replaced
    source.fc1.weight.array[...] = 7.0  # and not aliased to the source
    assert not np.any(target.fc1.weight.array == 7.0)


def test_load_state_dict_accepts_numpy_and_keeps_dtype():
    layer = nn.Linear(2, 2)
    values = {"weight": np.arange(4.0).reshape(2, 2), "bias": [0.5, -0.5]}  # float64 / list
    layer.load_state_dict(values)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.array, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(layer.bias.array, [0.5, -0.5])


def test_load_state_dict_assign_takes_the_arrays():
    layer = nn.Linear(2, 1)
    weight = np.ones((1, 2))  # float64
    layer.load_state_dict({"weight": weight, "bias": np.zeros(1)}, assign=True)
    assert layer.weight.array is weight and layer.weight.dtype == np.float64
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad


def test_load_state_dict_names_missing_unexpected_and_wrong_shape_keys():
    model = TwoLayer()
    state = TwoLayer().state_dict()
    del state["fc1.bias"]
    state["fc3.weight"] = chainrule.zeros(1)
    state["fc2.weight"] = chainrule.zeros(5, 5)
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert 'Missing key(s) in state_dict: "fc1.bias"' in message
    assert 'Unexpected key(s) in state_dict: "fc3.weight"' in message
    assert "size mismatch for fc2.weight" in message and "(5, 5)" in message and "(2, 3)" in message


def test_load_state_dict_non_strict_reports_keys_but_still_refuses_wrong_shapes():
    model = TwoLayer()
    state = TwoLayer().state_dict()
    del state["fc1.bias"]
    state["extra"] = chainrule.zeros(1)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model.fc1.weight.array, state["fc1.weight"].array)
    state["fc1.weight"] = chainrule.zeros(1, 1)
    with pytest.raises(RuntimeError, match="size mismatch for fc1.weight"):
        model.load_state_dict(state, strict=False)


def test_non_persistent_buffers_are_not_saved_or_expected():
    model = WithBuffers()
    assert "scratch" not in model.state_dict()
    model.load_state_dict(WithBuffers().state_dict())  # no "missing scratch" error


def test_deepcopy_and_pickle_give_independent_equal_models():
    model = WithBuffers()
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]
        np.testing.assert_array_equal(clone.inner.fc1.weight.array, model.inner.fc1.weight.array)
        assert clone.inner.fc1.weight is not model.inner.fc1.weight
        assert clone.inner.fc1.weight.requires_grad


# ------------------------------------------------------------------------------ modes, grads
def test_train_and_eval_reach_every_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="bool"):
        model.train("no")


def test_zero_grad_and_requires_grad():
    model = TwoLayer()
    model(chainrule.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.array.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_apply_visits_children_before_parent():
    model = TwoLayer()
    visited = []
    model.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "Tanh", "Linear", "TwoLayer"]

    def zero_linear(module):
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.weight)

    model.apply(zero_linear)
    assert not model.fc1.weight.array.any() and not model.fc2.weight.array.any()


# ------------------------------------------------------------------------------ dtypes
def test_double_float_half_keep_parameter_objects_and_integer_buffers():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    weight = model[0].weight
    model.double()
    assert model[0].weight is weight and weight.dtype == np.float64
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    out = model(chainrule.randn(4, 2, dtype=chainrule.float64))
    assert out.dtype == np.float64
    model.half()
    assert weight.dtype == np.float16
    model.float()
    assert weight.dtype == np.float32 and model[1].num_batches_tracked.dtype == np.int64


def test_to_accepts_dtype_cpu_and_tensor_and_refuses_the_rest():
    model = nn.Linear(2, 2)
    assert model.to("cpu") is model and model.cpu() is model
    model.to(chainrule.float64)
    assert model.weight.dtype == np.float64
    model.to(chainrule.zeros(1, dtype=chainrule.float32))
    assert model.weight.dtype == np.float32
    model.to("cpu", dtype=chainrule.float64)
    assert model.bias.dtype == np.float64
    with pytest.raises(RuntimeError, match="CPU only"):
        model.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        model.to(chainrule.int64)


def test_type_casts_everything():
    model = nn.Linear(2, 2)
    model.type(chainrule.float64)
    assert model.weight.dtype == np.float64


def test_grad_is_cast_with_its_parameter():
    model = nn.Linear(2, 1)
    model(chainrule.ones(1, 2)).sum().backward()
    model.double()
    assert model.weight.grad.dtype == np.float64


# ------------------------------------------------------------------------------ hooks
def test_forward_hook_sees_and_can_replace_output_and_is_removable():
    layer = nn.Linear(2, 2)
    seen = []
    handle = layer.register_forward_hook(lambda m, args, out: seen.append((m, args[0], out)))
    x = chainrule.randn(1, 2)
    out = layer(x)
    assert seen[0][0] is layer and seen[0][1] is x and seen[0][2] is out
    handle.remove()
    layer(x)
    assert len(seen) == 1
    with layer.register_forward_hook(lambda m, args, out: out * 0):
        assert not layer(x).array.any()
    assert layer(x).array.any()


def test_forward_pre_hook_can_replace_input():
    layer = nn.Identity()
    layer.register_forward_pre_hook(lambda m, args: (args[0] + 1,))
    assert layer(chainrule.zeros(2)).array.tolist() == [1.0, 1.0]


def test_forward_hook_may_store_activations_on_the_module():
    layer = nn.Linear(2, 2)
    layer.register_forward_hook(lambda m, args, out: setattr(m, "activation", out))
    out = layer(chainrule.randn(1, 2))
    assert layer.activation is out


# ------------------------------------------------------------------------------ repr
def test_repr_prints_the_tree_like_pytorch():
    model = nn.Sequential(OrderedDict(
        conv=nn.Conv2d(1, 4, 3, padding=1, bias=False),
        block=nn.Sequential(nn.ReLU(), nn.Dropout(0.25)),
        head=nn.Linear(4, 2),
    ))
    expected = (
        "Sequential(\n"
        "  (conv): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
        "  (block): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Dropout(p=0.25, inplace=False)\n"
        "  )\n"
        "  (head): Linear(in_features=4, out_features=2, bias=True)\n"
        ")"
    )
    assert repr(model) == expected


def test_repr_with_multiline_extra_and_children():
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(1, 1)

        def extra_repr(self) -> str:
            return "alpha=1\nbeta=2"

    assert repr(Custom()) == (
        "Custom(\n  alpha=1\n  beta=2\n  (fc): Linear(in_features=1, out_features=1, bias=True)\n)"
    )


# ------------------------------------------------------------------------------ containers
def test_sequential_indexing_slicing_and_editing():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    model = nn.Sequential(a, b, c)
    assert len(model) == 3 and list(model) == [a, b, c]
    assert model[0] is a and model[-1] is c
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    assert model(chainrule.randn(4, 2)).shape == (4, 1)
    with pytest.raises(IndexError, match="out of range"):
        model[3]
    model.append(nn.Sigmoid())
    assert [name for name, _ in model.named_children()] == ["0", "1", "2", "3"]
    del model[1]
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"] and model[1] is c
    model[0] = nn.Linear(2, 3)
    assert model[0] is not a
    model.insert(1, nn.Tanh())
    assert isinstance(model[1], nn.Tanh) and len(model) == 4


def test_sequential_from_ordered_dict_keeps_names():
    model = nn.Sequential(OrderedDict([("first", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(model.state_dict()) == ["first.weight", "first.bias"]
    assert model.first is model[0]
    assert list(model[1:]._modules) == ["act"]


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Linear(2, 1))
    layers.extend([nn.ReLU()])
    layers += [nn.Tanh()]
    assert len(layers) == 6 and isinstance(layers[-1], nn.Tanh)
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert [name for name, _ in layers.named_children()] == ["0", "1", "2", "3", "4"]
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity)
    with pytest.raises(NotImplementedError, match="iterate"):
        layers(chainrule.ones(1))


def test_module_list_inside_a_model_names_its_parameters():
    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    expected = ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias"]
    assert list(Stack().state_dict()) == expected


def test_module_dict():
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3)})
    heads["reg"] = nn.Linear(4, 1)
    assert list(heads.keys()) == ["cls", "reg"] and "reg" in heads and len(heads) == 2
    assert heads["reg"](chainrule.randn(2, 4)).shape == (2, 1)
    names = [name for name, _ in heads.named_parameters()]
    assert names == ["cls.weight", "cls.bias", "reg.weight", "reg.bias"]
    heads.update([("extra", nn.ReLU())])
    assert list(heads) == ["cls", "reg", "extra"]
    assert isinstance(heads.pop("extra"), nn.ReLU) and len(heads) == 2
    del heads["cls"]
    assert list(heads.keys()) == ["reg"]


def test_parameter_list_and_dict_wrap_tensors():
    plist = nn.ParameterList([chainrule.ones(2), nn.Parameter(chainrule.zeros(3))])
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in plist)
    plist.append(chainrule.ones(1))
    assert [name for name, _ in plist.named_parameters()] == ["0", "1", "2"] and plist[-1].shape == (1,)
    pdict = nn.ParameterDict({"a": chainrule.ones(2)})
    pdict["b"] = nn.Parameter(chainrule.zeros(1))
    assert list(pdict.keys()) == ["a", "b"] and isinstance(pdict["a"], nn.Parameter)
    model = nn.Module()
    model.scales = plist
    assert list(model.state_dict()) == ["scales.0", "scales.1", "scales.2"]


# ------------------------------------------------------------------------------ nn.utils
def _with_grads(*grads):
    params = []
    for grad in grads:
        p = nn.Parameter(chainrule.zeros(len(grad)))
        p.grad = chainrule.tensor(grad)
        params.append(p)
    return params


def test_clip_grad_norm_scales_all_gradients_together():
    params = _with_grads([3.0, 0.0], [0.0, 4.0])  # total 2-norm 5
    total = nn.utils.clip_grad_norm_(params, max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad.array, [3 * scale, 0], rtol=1e-6)
    np.testing.assert_allclose(params[1].grad.array, [0, 4 * scale], rtol=1e-6)
    assert params[0].grad.dtype == np.float32


def test_clip_grad_norm_leaves_small_gradients_and_supports_other_norms():
    params = _with_grads([0.3, -0.4])
    assert nn.utils.clip_grad_norm_(params, 1.0).item() == pytest.approx(0.5)
    np.testing.assert_allclose(params[0].grad.array, [0.3, -0.4], rtol=1e-6)
    params = _with_grads([1.0, -2.0], [0.5])
    assert nn.utils.clip_grad_norm_(params, 1.0, norm_type=math.inf).item() == pytest.approx(2.0)
    np.testing.assert_allclose(params[0].grad.array, [0.5, -1.0], rtol=1e-5)
    params = _with_grads([1.0, -2.0])
    assert nn.utils.clip_grad_norm_(params, 10.0, norm_type=1).item() == pytest.approx(3.0)


def test_clip_grad_norm_nonfinite():
    params = _with_grads([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    params = _with_grads([3.0, -0.5, -7.0])
    nn.utils.clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.array, [1.0, -0.5, -1.0])


def test_parameters_to_vector_and_back():
    layer = nn.Linear(3, 2)
    vector = nn.utils.parameters_to_vector(layer.parameters())
    expected = np.concatenate([layer.weight.array.ravel(), layer.bias.array])
    np.testing.assert_array_equal(vector.array, expected)
    (vector * chainrule.arange(8.0)).sum().backward()  # differentiable
    np.testing.assert_array_equal(layer.bias.grad.array, [6.0, 7.0])
    nn.utils.vector_to_parameters(chainrule.arange(8.0), layer.parameters())
    np.testing.assert_array_equal(layer.weight.array, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(layer.bias.array, [6, 7])
    with pytest.raises(ValueError, match="8 elements"):
        nn.utils.vector_to_parameters(chainrule.zeros(5), layer.parameters())
