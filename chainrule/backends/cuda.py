"""``chainrule.backends.cuda``: the CUDA matmul switches scripts set (no effect without CUDA)."""


class _MatmulSwitches:
    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulSwitches()


def is_built() -> bool:
    return False
