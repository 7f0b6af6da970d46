"""chainrule: neural networks on NumPy, with a backpropagation engine you can read.

PyTorch's names, so a PyTorch script runs after ``import chainrule as torch``::

    >>> import chainrule as torch
    >>> x = torch.randn(4, 3, requires_grad=True)
    >>> (x @ x.T).sum().backward()
    >>> x.grad.shape
    (4, 3)
"""

import builtins as _builtins
from typing import TYPE_CHECKING as _TYPE_CHECKING

from chainrule import (
    accelerator,  # noqa: F401,E402
    autograd,  # noqa: F401,E402
    backends,  # noqa: F401,E402
    cuda,  # noqa: F401,E402
    distributions,  # noqa: F401,E402
    learning,  # noqa: F401,E402
    linalg,  # noqa: F401,E402
    nn,  # noqa: F401,E402
    onnx,  # noqa: F401,E402
    optim,  # noqa: F401,E402
    serialization,  # noqa: F401,E402
    utils,  # noqa: F401,E402
    viz,  # noqa: F401,E402
)
from chainrule.compiler import compile  # noqa: A004,F401  (torch.compile's name)
from chainrule.creation import (  # noqa: F401
    arange,
    as_tensor,
    empty,
    empty_like,
    equal,
    eye,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    normal,
    numel,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.devices import device, get_default_device, set_default_device  # noqa: F401
from chainrule.dtypes import (  # noqa: F401
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from chainrule.grad_mode import (  # noqa: F401
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.ops.elementwise import (  # noqa: F401
    abs,
    acos,
    add,
    asin,
    atan,
    atan2,
    ceil,
    clamp,
    clip,
    cos,
    div,
    erf,
    exp,
    floor,
    isfinite,
    isinf,
    isnan,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    remainder,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    sub,
    tanh,
    where,
)
from chainrule.ops.inplace import relu_, sigmoid_, tanh_  # noqa: F401
from chainrule.ops.linalg import bmm, det, dot, einsum, logdet, matmul, mm, outer, slogdet  # noqa: F401
from chainrule.ops.linalg import inv as inverse  # noqa: F401
from chainrule.ops.movement import (  # noqa: F401
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    expand,
    flatten,
    flip,
    gather,
    index_select,
    masked_fill,
    narrow,
    permute,
    reshape,
    scatter,
    scatter_add,
    select,
    split,
    squeeze,
    stack,
    t,
    transpose,
    tril,
    triu,
    unbind,
    unflatten,
    unsqueeze,
)
from chainrule.ops.reduce import (  # noqa: F401
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    count_nonzero,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from chainrule.printing import set_printoptions  # noqa: F401
from chainrule.promotion import can_cast, promote_types, result_type  # noqa: F401
from chainrule.random import (  # noqa: F401
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from chainrule.serialization import load, save  # noqa: F401
from chainrule.tensor import (  # noqa: F401
    Size,
    Tensor,
)
from chainrule.torch_functions import (  # noqa: F401
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    IntTensor,
    LongTensor,
    addmm,
    addmv,
    allclose,
    are_deterministic_algorithms_enabled,
    argsort,
    baddbmm,
    diag,
    inference_mode,
    is_complex,
    is_deterministic_algorithms_warn_only_enabled,
    is_nonzero,
    isclose,
    lerp,
    multinomial,
    nan_to_num,
    nonzero,
    roll,
    set_default_tensor_type,
    sort,
    topk,
    unique,
    use_deterministic_algorithms,
)

arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2  # NumPy's names, which torch has too
from chainrule.ops.unary import FUNCTIONS as _UNARY_FUNCTIONS  # noqa: E402

globals().update(_UNARY_FUNCTIONS)  # torch.tan, torch.expm1, torch.xlogy, ... (chainrule.ops.unary)
from chainrule.array_functions import FUNCTIONS as _ARRAY_FUNCTIONS  # noqa: E402

for _name, _function in _ARRAY_FUNCTIONS.items():  # torch.movedim, trace, kron, ... (array_functions)
    globals().setdefault(_name, _function)
softmax = nn.functional.softmax
log_softmax = nn.functional.log_softmax

# Submodules reached as attributes after `import chainrule` (cr.diagnostics, cr.train, ...),
# imported on first use (PEP 562), so `import chainrule` does not pay for the workflow and
# insight packages up front. Type checkers see them as ordinary imports.
_LAZY_SUBMODULES = (
    "cli",
    "data",
    "datasets",
    "diagnostics",
    "distributed",
    "errors",
    "fairness",
    "files",
    "interpret",
    "kernels",
    "pytorch_checkpoint",
    "run",
    "train",
)
if _TYPE_CHECKING:
    from chainrule import (  # noqa: F401
        cli,
        data,
        datasets,
        diagnostics,
        distributed,
        errors,
        fairness,
        files,
        interpret,
        kernels,
        pytorch_checkpoint,
        run,
        train,
    )


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"chainrule.{name}")  # also binds it here for next time
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_SUBMODULES})


__version__ = "0.1.0"


def is_floating_point(input: Tensor) -> _builtins.bool:  # noqa: A002
    return input.is_floating_point()


from chainrule.torch_functions import add_out_arguments as _add_out_arguments  # noqa: E402

_add_out_arguments(globals())  # out= on matmul, add, mul, ... as torch has it
