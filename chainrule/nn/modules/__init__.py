"""The layer classes of ``chainrule.nn``, one file per family as in PyTorch."""

from chainrule.nn.modules.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)
from chainrule.nn.modules.container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from chainrule.nn.modules.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from chainrule.nn.modules.distance import CosineSimilarity, PairwiseDistance
from chainrule.nn.modules.dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from chainrule.nn.modules.flatten import Flatten, Unflatten
from chainrule.nn.modules.linear import Bilinear, Identity, Linear
from chainrule.nn.modules.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from chainrule.nn.modules.module import Module
from chainrule.nn.modules.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
)
from chainrule.nn.modules.padding import (
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from chainrule.nn.modules.pixelshuffle import (
    Fold,
    PixelShuffle,
    PixelUnshuffle,
    Unfold,
    Upsample,
    UpsamplingNearest2d,
)
from chainrule.nn.modules.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from chainrule.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from chainrule.nn.modules.sparse import Embedding, EmbeddingBag
from chainrule.nn.modules.transformer import (
    MultiheadAttention,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d",
    "BCELoss", "BCEWithLogitsLoss", "Bilinear", "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
    "CrossEntropyLoss", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "ELU", "Embedding", "Flatten",
    "GELU",
    "GroupNorm", "GRU", "GRUCell", "Hardtanh", "HuberLoss", "Identity", "L1Loss", "LayerNorm",
    "LeakyReLU", "Linear", "LogSoftmax", "LSTM", "LSTMCell", "MaxPool1d", "MaxPool2d", "Module",
    "ModuleDict", "ModuleList", "MSELoss", "MultiheadAttention", "NLLLoss", "ParameterDict",
    "ParameterList", "ReLU", "ReLU6", "RNN", "RNNBase", "RNNCell", "RNNCellBase", "Sequential",
    "Sigmoid", "SiLU", "SmoothL1Loss", "Softmax", "Softplus", "Tanh", "Transformer",
    "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
    "Unflatten", "Fold", "Unfold", "EmbeddingBag", "InstanceNorm1d", "InstanceNorm2d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    # built from nn.functional's composed functions (chainrule/nn/composed.py)
    "CELU", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "CosineEmbeddingLoss", "CosineSimilarity",
    "GaussianNLLLoss", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish", "KLDivLoss", "LogSigmoid",
    "MarginRankingLoss", "Mish", "PairwiseDistance", "PixelShuffle", "PixelUnshuffle", "PoissonNLLLoss",
    "PReLU", "SELU", "SoftMarginLoss", "Softmin", "Softshrink", "Softsign", "Tanhshrink", "Threshold",
    "TripletMarginLoss", "Upsample", "UpsamplingNearest2d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]
