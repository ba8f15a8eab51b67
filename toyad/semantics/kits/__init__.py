"""The semantic backends: one :class:`Kit` per engine or framework family, by name.

``BACKENDS`` maps a kit's name to the kit; its ``registry`` lists the toyad
backend names that select it (``tf-eager`` or ``tf-function`` -> tensorflow).
``substitutes`` notes an operation a kit expresses another way (relu as
maximum(x, 0), ...), which the table appends to the answer. Importing this
package imports no framework: each kit imports its library on first use.
"""

from __future__ import annotations

from toyad.semantics.kits.base import Kit, Scalar
from toyad.semantics.kits.jax import JaxKit
from toyad.semantics.kits.peers import AutogradKit, MicrogradKit
from toyad.semantics.kits.tensorflow import TensorFlowKit
from toyad.semantics.kits.torch import TorchKit
from toyad.semantics.kits.toys import DualKit, ReverseKit, SymbolicKit, TensorKit

_RELU_AS_MAX = {"relu": "relu as maximum(x, 0)"}
_SCALAR_WHERE = {"where": "where as Python a-if-cond-else-b"}

BACKENDS: dict[str, Kit] = {
    k.name: k
    for k in [
        DualKit("dual", "toy", ("dual",), dict(_SCALAR_WHERE, maximum="max as Python max()")),
        SymbolicKit("symbolic", "toy", ("symbolic",), dict(_SCALAR_WHERE)),
        ReverseKit("reverse", "toy", ("reverse", "reverse-recursive"), dict(_SCALAR_WHERE)),
        TensorKit("tensor", "toy", ("tensor", "tensor-unbatched"), dict(_RELU_AS_MAX)),
        TensorFlowKit("tensorflow", "tensorflow", ("tf-eager", "tf-function")),
        JaxKit("jax", "jax", ("jax-eager", "jax-jit")),
        TorchKit("torch", "torch", ("torch-autograd", "torch-forward-ad", "torch-func")),
        AutogradKit("autograd", "peer", ("autograd",), dict(_RELU_AS_MAX)),
        MicrogradKit(
            "micrograd", "peer", ("micrograd",), dict(_SCALAR_WHERE, sqrt="sqrt as x ** 0.5")
        ),
    ]
}

__all__ = [
    "BACKENDS",
    "AutogradKit",
    "DualKit",
    "JaxKit",
    "Kit",
    "MicrogradKit",
    "ReverseKit",
    "Scalar",
    "SymbolicKit",
    "TensorFlowKit",
    "TensorKit",
    "TorchKit",
]
