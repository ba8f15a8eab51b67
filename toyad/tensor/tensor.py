"""The Tensor: a float64 numpy array with an optional tangent and tape node.

A Tensor carries up to two derivative channels, one forward and one reverse:

- ``dot``: a *batch* of forward-mode tangents, shape ``(k, *value.shape)``:
  k directions pushed through in one pass (None means zero tangent);
- ``node``: its entry in the reverse-mode graph (None if nothing it depends
  on requires a gradient), holding what its VJP will need.

:func:`apply` is the one place an operation happens: the value, then the
tangent (JVP rule), then the tape entry, only if an input is on the tape and
recording is on. A Tensor with neither channel is a constant, so the primal
evaluated through the engine pays only a Python call per operation.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# Recording is switched off while a backward pass runs: the reverse pass may
# itself carry forward tangents (forward-over-reverse) but is never taped.
_recording = True


@contextmanager
def no_recording() -> Iterator[None]:
    """Operations inside this block are not taped (tangents still flow)."""
    global _recording
    previous, _recording = _recording, False
    try:
        yield
    finally:
        _recording = previous


_node_counter = itertools.count()


class Node:
    """One reverse-mode graph entry: the rule, what its VJPs read, its parents.

    ``parents`` lists ``(i, node, shape)`` for the inputs that need a
    cotangent; ``args`` holds what the VJPs read: plain values, or the input
    Tensors themselves when they carry tangents (forward-over-reverse).
    ``order`` grows with creation, so it is a topological order: every
    node's inputs have smaller orders. The output is kept as value and
    tangent (not as the Tensor itself, which owns this node) so that no
    reference cycle delays freeing big arrays.
    """

    __slots__ = ("rule", "args", "params", "out", "out_dot", "parents", "order")

    def __init__(self, rule: Any, args: tuple, params: dict, out: Any, out_dot: Any, parents):
        self.rule = rule
        self.args = args
        self.params = params
        self.out = out
        self.out_dot = out_dot
        self.parents = parents
        self.order = next(_node_counter)

    @classmethod
    def leaf(cls) -> Node:
        return cls(None, (), {}, None, None, ())


class Shape:
    """Stands in, on the tape, for an input whose value no needed VJP reads."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _constant(value: Any) -> Tensor:
    """A Tensor around ``value`` without conversion or checks (engine internal)."""
    t = Tensor.__new__(Tensor)
    t.value = value
    t.dot = None
    t.node = None
    return t


def apply(rule: Any, *args: Any, **params: Any) -> Tensor:
    """Run primitive ``rule`` on Tensors/constants: value, tangent, tape entry."""
    values = []
    has_dot = has_node = False
    for a in args:
        if type(a) is Tensor:
            values.append(a.value)
            if a.dot is not None:
                has_dot = True
            if a.node is not None:
                has_node = True
        else:
            values.append(a)
    out = Tensor.__new__(Tensor)
    out.value = y = rule.value(*values, **params)
    out.dot = push_tangents(rule, args, values, y, params) if has_dot else None
    if has_node and _recording:
        parents = []
        for i, a in enumerate(args):
            if type(a) is Tensor and a.node is not None:
                parents.append((i, a.node, values[i].shape))
        # Plain values suffice for the VJPs unless tangents flow (forward-over-reverse).
        saved = args if has_dot else values
        if rule.vjp_reads is not None:
            saved = _saved_inputs(rule, saved, values, parents)
        if rule.saves_output:
            out.node = Node(rule, saved, params, y, out.dot, parents)
        else:
            out.node = Node(rule, saved, params, None, None, parents)
    else:
        out.node = None
    return out


def _saved_inputs(rule: Any, inputs: Any, values: list, parents: list) -> tuple:
    """The inputs the needed VJPs read; the others are kept as their shapes only."""
    reads = rule.vjp_reads
    if rule.variadic:
        keep: Any = ()
    elif len(parents) == 1:
        keep = reads[parents[0][0]]
    else:
        keep = set()
        for p in parents:
            keep.update(reads[p[0]])
    saved = []
    for j, a in enumerate(inputs):
        saved.append(a if j in keep else Shape(getattr(values[j], "shape", ())))
    return saved


def push_tangents(rule: Any, args: tuple, values: list, y: Any, params: dict) -> np.ndarray:
    """The output tangent batch: the sum of each tangent-carrying input's JVP.

    For elementwise rules each input tangent ``(k, *shape_i)`` is first given
    leading unit axes to the output's rank, so numpy broadcasting lines the
    batch axis up; the sum is then broadcast to ``(k, *y.shape)``.
    """
    if rule.variadic:
        dots = [a.dot if type(a) is Tensor else None for a in args]
        return rule.jvp(dots, y, *values, **params)
    y_dot = None
    rank = y.ndim + 1
    for i, a in enumerate(args):
        if type(a) is not Tensor or a.dot is None:
            continue
        x_dot = a.dot
        if rule.elementwise and x_dot.ndim < rank:
            x_dot = x_dot.reshape(x_dot.shape[:1] + (1,) * (rank - x_dot.ndim) + x_dot.shape[1:])
        contribution = rule.jvp[i](x_dot, y, *values, **params)
        y_dot = contribution if y_dot is None else y_dot + contribution
    if rule.elementwise:
        full = y_dot.shape[:1] + y.shape
        if y_dot.shape != full:
            y_dot = np.broadcast_to(y_dot, full)
    return y_dot


_SCALARS = (int, float, np.integer, np.floating, np.bool_, bool)
_OPERANDS = (np.ndarray, *_SCALARS)


def _operand(other: Any) -> bool:
    return type(other) is Tensor or isinstance(other, _OPERANDS)


class Tensor:
    """A float64 numpy array, optionally carrying tangents (``dot``) and a tape node.

    Supports numpy's operators (with floats and numpy arrays on either side),
    ``@`` for 1-D/2-D operands, indexing and slicing, ``.shape``; numpy ufuncs
    and functions the engine knows (``np.sin(t)``, ``np.sum(t)``) dispatch to
    it, any other numpy function raises a TypeError naming it.
    """

    __slots__ = ("value", "dot", "node")

    def __init__(self, value: Any, dot: Any = None):
        if type(value) is Tensor:
            raise TypeError("Tensor(value): value is already a Tensor; use it directly")
        self.value = np.asarray(value, dtype=np.float64)
        if dot is not None:
            dot = np.asarray(dot, dtype=np.float64)
            if dot.shape[1:] != self.value.shape:
                raise ValueError(
                    f"tangent batch must have shape (k, *{self.value.shape}); got {dot.shape}"
                )
        self.dot = dot
        self.node = None

    # -- array-like attributes -------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    @property
    def T(self) -> Tensor:
        return _rules.transpose(self)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d Tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        extras = "" if self.dot is None else f", dot=<{self.dot.shape[0]} tangents>"
        extras += "" if self.node is None else ", taped"
        return f"Tensor({np.array2string(np.asarray(self.value), threshold=8)}{extras})"

    def __float__(self) -> float:
        if self.size != 1:
            raise TypeError(f"only a size-1 Tensor converts to float; shape is {self.shape}")
        if self.dot is not None or self.node is not None:
            raise TypeError(
                "float() of a Tensor that is being differentiated would drop its derivative; "
                "use .value outside the differentiated function"
            )
        return float(np.asarray(self.value).reshape(()))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "converting a toyad Tensor to a numpy array would drop its derivatives; "
            "use the xp namespace (xp.asarray, xp.stack) or read .value explicitly"
        )

    # -- numpy interoperability ------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any):
        op = _rules.UFUNCS.get(ufunc.__name__)
        if op is None or method != "__call__" or kwargs:
            what = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            extra = f" with keyword arguments {sorted(kwargs)}" if kwargs else ""
            raise TypeError(
                f"numpy function {what!r}{extra} is not supported on a toyad Tensor; "
                f"supported ufuncs: {', '.join(sorted(_rules.UFUNCS))}"
            )
        return op(*inputs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict):
        op = _rules.ARRAY_FUNCTIONS.get(func.__name__)
        if op is None:
            raise TypeError(
                f"numpy function {func.__name__!r} is not supported on a toyad Tensor; "
                f"supported: {', '.join(sorted(_rules.ARRAY_FUNCTIONS))} and the ufuncs "
                f"{', '.join(sorted(_rules.UFUNCS))}"
            )
        return op(*args, **kwargs)

    # -- arithmetic (reflected forms accept floats and numpy arrays) ---------
    def __add__(self, other: Any) -> Tensor:
        return apply(_rules.ADD, self, other) if _operand(other) else NotImplemented

    def __radd__(self, other: Any) -> Tensor:
        return apply(_rules.ADD, other, self) if _operand(other) else NotImplemented

    def __sub__(self, other: Any) -> Tensor:
        return apply(_rules.SUB, self, other) if _operand(other) else NotImplemented

    def __rsub__(self, other: Any) -> Tensor:
        return apply(_rules.SUB, other, self) if _operand(other) else NotImplemented

    def __mul__(self, other: Any) -> Tensor:
        return apply(_rules.MUL, self, other) if _operand(other) else NotImplemented

    def __rmul__(self, other: Any) -> Tensor:
        return apply(_rules.MUL, other, self) if _operand(other) else NotImplemented

    def __truediv__(self, other: Any) -> Tensor:
        return apply(_rules.DIV, self, other) if _operand(other) else NotImplemented

    def __rtruediv__(self, other: Any) -> Tensor:
        return apply(_rules.DIV, other, self) if _operand(other) else NotImplemented

    def __pow__(self, other: Any) -> Tensor:
        return _rules.power(self, other) if _operand(other) else NotImplemented

    def __rpow__(self, other: Any) -> Tensor:
        return _rules.power(other, self) if _operand(other) else NotImplemented

    def __matmul__(self, other: Any) -> Tensor:
        return _rules.matmul(self, other) if _operand(other) else NotImplemented

    def __rmatmul__(self, other: Any) -> Tensor:
        return _rules.matmul(other, self) if _operand(other) else NotImplemented

    def __neg__(self) -> Tensor:
        return apply(_rules.NEG, self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return apply(_rules.ABS, self)

    def __getitem__(self, index: Any) -> Tensor:
        return _rules.getitem(self, index)

    # Comparisons give plain boolean arrays (not differentiable); == and !=
    # keep Python identity so Tensors stay hashable.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.value < _rules.value_of(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.value <= _rules.value_of(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.value > _rules.value_of(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.value >= _rules.value_of(other)

    __hash__ = object.__hash__

    # -- convenience methods (numpy-style) ------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _rules.reduce_sum(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _rules.reshape(self, shape)


from toyad.tensor import rules as _rules  # noqa: E402  (rules need Tensor first)
