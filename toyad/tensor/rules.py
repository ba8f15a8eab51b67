"""One table of tensor primitives: value, JVP rule and VJP rule side by side.

Adding a primitive is one ``Rule`` entry in ``RULES`` (plus a public name in
:mod:`toyad.tensor.xp` if it should be one). Conventions, in Autodidax names:

- ``value(*inputs, **params)`` computes on plain numpy arrays.
- ``jvp[i](x_dot, y, *inputs, **params)`` is input i's contribution to the
  output tangent. Everything is plain numpy; ``x_dot`` is a *batch* of
  tangents, shape ``(k, *shape_i)``. For ``elementwise`` rules the engine
  first gives ``x_dot`` unit axes up to the output's rank, so broadcasting
  against the inputs lines up, and broadcasts the summed result.
- ``vjp[i](y_bar, y, *inputs, **params)`` is input i's cotangent. VJP rules
  are written with the *generic* operations of this module (``cos``,
  ``matmul``, ``reduce_sum``, ...): on numpy arrays they are numpy, on
  Tensors they are engine operations, so a reverse pass run on
  tangent-carrying Tensors is itself differentiated in forward mode (hvp,
  forward-over-reverse). The engine undoes broadcasting after every VJP
  (:func:`sum_to_shape`), so rules return the broadcast shape freely.
- ``variadic`` rules (stack, concatenate) take any number of inputs: their
  ``jvp(dots, y, *inputs)`` sees every tangent (None for zero) at once and
  ``vjp(i, y_bar, y, *inputs)`` is told which input it serves.

VJP rules reuse the forward output where it is cheaper (``d tanh = 1 - y²``,
``d exp = y``, ``d sqrt = 1 / 2y``, ``d(a/b)/db = -y/b``). The elementwise
ones multiply the cotangent in with :func:`_times` / :func:`_times_fresh`:
no product at all with the unit cotangent a ``sum`` hands down (the usual
seed of a gradient), and a derivative array the rule just made takes the
product in place, so a VJP costs the passes it needs and no temporaries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad.tensor.tensor import Tensor, _constant, apply


@dataclass(frozen=True, eq=False)
class Rule:
    name: str
    value: Callable[..., Any]
    jvp: Any  # tuple of per-input rules, or one function if variadic
    vjp: Any  # tuple of per-input rules, or one function vjp(i, ...) if variadic
    elementwise: bool = False
    variadic: bool = False
    # vjp_reads[i]: the inputs whose values input i's VJP reads (None: all of
    # them); the tape keeps only those, plus the shapes of the others.
    vjp_reads: tuple[tuple[int, ...], ...] | None = None
    saves_output: bool = False  # some VJP reads the output value
    # vjp_negates[i]: input i's VJP is -y_bar (neg, b in a - b), so the engine
    # may subtract y_bar from an accumulator it owns instead (one pass, no
    # temporary); the VJP rule stays the definition.
    vjp_negates: tuple[bool, ...] | None = None

    def __repr__(self) -> str:
        return f"<tensor rule {self.name}>"


# -- generic helpers: numpy on numpy, engine operations on Tensors ----------


def value_of(a: Any) -> Any:
    return a.value if type(a) is Tensor else a


def shape_of(a: Any) -> tuple[int, ...]:
    """The shape of a Tensor, numpy array, tape placeholder or number."""
    try:
        return a.shape
    except AttributeError:
        return np.shape(a)


def ndim_of(a: Any) -> int:
    try:
        return a.ndim
    except AttributeError:
        return np.ndim(a)


def size_of(a: Any) -> int:
    try:
        return a.size
    except AttributeError:
        return np.size(a)


def _holds_tensor(obj: Any) -> bool:
    if type(obj) is Tensor:
        return True
    return isinstance(obj, (list, tuple)) and any(_holds_tensor(o) for o in obj)


def asarray(obj: Any, dtype: Any = None) -> Tensor:
    """``obj`` as a Tensor: Tensors pass through, numbers become float64
    constants, (nested) lists holding Tensors are stacked."""
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise TypeError(f"toyad.tensor computes in float64 only; got dtype={dtype!r}")
    if type(obj) is Tensor:
        return obj
    if isinstance(obj, (list, tuple)) and _holds_tensor(obj):
        return stack([asarray(o) for o in obj])
    try:
        value = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot make a float64 Tensor from {type(obj).__name__}: {exc}") from None
    return _constant(value)


def _call(rule: Rule, *args: Any, **params: Any) -> Any:
    """``rule`` on plain values if no argument is a Tensor, else through the engine."""
    for a in args:
        if type(a) is Tensor:
            return apply(rule, *args, **params)
    return rule.value(*args, **params)


def sin(x: Any) -> Any:
    return _call(SIN, x)


def cos(x: Any) -> Any:
    return _call(COS, x)


def tan(x: Any) -> Any:
    return _call(TAN, x)


def exp(x: Any) -> Any:
    return _call(EXP, x)


def log(x: Any) -> Any:
    return _call(LOG, x)


def tanh(x: Any) -> Any:
    return _call(TANH, x)


def sqrt(x: Any) -> Any:
    return _call(SQRT, x)


def absolute(x: Any) -> Any:
    return _call(ABS, x)


def add(a: Any, b: Any) -> Any:
    return _call(ADD, a, b)


def subtract(a: Any, b: Any) -> Any:
    return _call(SUB, a, b)


def multiply(a: Any, b: Any) -> Any:
    return _call(MUL, a, b)


def divide(a: Any, b: Any) -> Any:
    return _call(DIV, a, b)


def negative(a: Any) -> Any:
    return _call(NEG, a)


def square(x: Any) -> Any:
    return _call(POW_CONST, x, p=2)


def sign(x: Any) -> np.ndarray:
    """sign(x) as a constant: its derivative is zero wherever it exists."""
    return np.sign(value_of(x))


def power(a: Any, b: Any) -> Any:
    """a ** b; a plain-number exponent takes the cheaper constant-exponent rule."""
    if isinstance(b, (int, float, np.integer, np.floating)) and not isinstance(b, bool):
        return _call(POW_CONST, a, p=float(b) if isinstance(b, np.floating) else b)
    return _call(POW, a, b)


def _dpow(a: Any, p: Any) -> Any:
    """d/da a**p = p a**(p-1) (2a for the common square)."""
    if p == 2:
        return 2.0 * a
    return p * a ** (p - 1)


def matmul(a: Any, b: Any) -> Any:
    return _call(MATMUL, a, b)


def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    nd = ndim_of(a)
    axes = tuple(reversed(range(nd))) if axes is None else tuple(int(i) % max(nd, 1) for i in axes)
    if sorted(axes) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {nd} axes")
    return _call(TRANSPOSE, a, axes=axes)


def reshape(a: Any, shape: Any) -> Any:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return _call(RESHAPE, a, shape=shape)


def broadcast_to(a: Any, shape: Any) -> Any:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return _call(BROADCAST_TO, a, shape=shape)


def outer(u: Any, v: Any) -> Any:
    """u v^T of two vectors, as a broadcast product."""
    return reshape(u, (-1, 1)) * v


def _axes(axis: Any, nd: int) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for ax in axes:
        if not -nd <= ax < max(nd, 1) or (nd == 0 and ax not in (0, -1)):
            raise ValueError(f"axis {ax} is out of bounds for an array of dimension {nd}")
    return tuple(sorted(int(ax) % max(nd, 1) for ax in axes)) if nd else ()


def reduce_sum(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _call(SUM, a, axis=_axes(axis, ndim_of(a)), keepdims=bool(keepdims))


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    count = int(np.prod(shape if axes is None else [shape[i] for i in axes], dtype=np.int64))
    return reduce_sum(a, axis, keepdims) * (1.0 / count)


def sum_to_shape(x: Any, shape: tuple[int, ...]) -> Any:
    """Undo broadcasting: sum ``x`` over the axes broadcasting added or stretched."""
    x_shape = shape_of(x)
    if x_shape == shape:
        return x
    lead = len(x_shape) - len(shape)
    stretched = tuple(lead + i for i, d in enumerate(shape) if d == 1 and x_shape[lead + i] != 1)
    summed = _call(SUM, x, axis=tuple(range(lead)) + stretched, keepdims=True)
    return _call(RESHAPE, summed, shape=tuple(shape)) if lead else summed


def _is_basic(index: Any) -> bool:
    """True if ``index`` uses only ints, slices, None and Ellipsis (no repeats possible)."""
    if type(index) is int or type(index) is slice:
        return True
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


def _normalise_index(index: Any) -> Any:
    if type(index) is int or type(index) is slice:
        return index
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if type(p) is Tensor:
            raise TypeError(
                "indexing with a Tensor is not supported; use ints, slices or numpy integer arrays"
            )
        out.append(np.asarray(p) if isinstance(p, list) else p)
    return tuple(out) if isinstance(index, tuple) else out[0]


def getitem(a: Any, index: Any) -> Any:
    return _call(GETITEM, a, index=_normalise_index(index))


def scatter(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """zeros(shape) with ``g`` added at ``index`` (repeated indices accumulate)."""
    return _call(SCATTER, g, index=index, shape=tuple(shape))


def where(cond: Any, a: Any, b: Any) -> Any:
    return _call(WHERE, a, b, cond=np.asarray(value_of(cond), dtype=bool))


def maximum(a: Any, b: Any) -> Any:
    """max(a, b); ties send the derivative to ``a``."""
    return where(value_of(a) >= value_of(b), a, b)


def minimum(a: Any, b: Any) -> Any:
    """min(a, b); ties send the derivative to ``a``."""
    return where(value_of(a) <= value_of(b), a, b)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    arrays = list(arrays)
    if not arrays:
        raise ValueError("stack needs at least one array")
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"stack: all arrays must have the same shape; got {sorted(shapes)}")
    nd = len(shapes.pop()) + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: axis {axis} is out of bounds for the result's {nd} dimensions")
    return _call(STACK, *arrays, axis=axis % nd)


def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    arrays = list(arrays)
    if not arrays:
        raise ValueError("concatenate needs at least one array")
    nd = ndim_of(arrays[0])
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    return _call(CONCATENATE, *arrays, axis=axis % nd)


# -- cotangent products: skip the product with a sum's seed, reuse fresh buffers --


def _is_unit(y_bar: Any) -> bool:
    """True for a numpy cotangent that is exactly 1 everywhere *by construction*: a
    0-d 1.0 or a broadcast (all strides 0) of it, as the VJP of ``sum`` gives.

    O(1): a full array of ones is not searched (it is multiplied as any other).
    """
    return (
        type(y_bar) is np.ndarray
        and not any(y_bar.strides)
        and y_bar.size > 0
        and y_bar.item(0) == 1.0
    )


def _times(y_bar: Any, d: Any) -> Any:
    """``y_bar * d`` for a local derivative ``d`` the rule did not make (a saved
    input or output): ``d`` itself, by reference, when ``y_bar`` is a unit seed
    of the same shape (1 * d is d exactly, in IEEE arithmetic too). The engine
    never writes into a cotangent it did not allocate, so sharing is safe."""
    if _is_unit(y_bar) and type(d) is np.ndarray and d.shape == y_bar.shape:
        return d
    return y_bar * d


def _times_fresh(y_bar: Any, d: Any) -> Any:
    """``y_bar * d`` for a derivative array ``d`` the rule just made and nobody
    else sees: ``d`` itself for a unit seed, else the product written into ``d``."""
    if type(d) is not np.ndarray:  # a Tensor (forward-over-reverse) or a numpy scalar
        return y_bar * d
    if _is_unit(y_bar) and d.shape == y_bar.shape:
        return d
    if type(y_bar) is np.ndarray and d.shape == np.broadcast_shapes(d.shape, y_bar.shape):
        return np.multiply(d, y_bar, out=d)
    return y_bar * d


def _one_minus_square(y: Any) -> Any:
    """1 - y² (tanh'), in one buffer on numpy."""
    if type(y) is not np.ndarray:
        return 1.0 - y * y
    d = np.multiply(y, y)
    return np.subtract(1.0, d, out=d)


def _one_plus_square(y: Any) -> Any:
    """1 + y² (tan'), in one buffer on numpy."""
    if type(y) is not np.ndarray:
        return 1.0 + y * y
    d = np.multiply(y, y)
    return np.add(1.0, d, out=d)


def _minus_sin(x: Any) -> Any:
    """-sin(x) (cos'), in one buffer on numpy."""
    d = sin(x)
    if type(d) is not np.ndarray:
        return -d
    return np.negative(d, out=d)


# -- rule helpers that need more than one line --------------------------------


def _matmul_value(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sa, sb = shape_of(a), shape_of(b)
    if not (1 <= len(sa) <= 2 and 1 <= len(sb) <= 2):
        raise ValueError(f"@ supports 1-D and 2-D operands; got shapes {sa} and {sb}")
    if sa[-1] != sb[0]:
        raise ValueError(
            f"@: shapes {sa} and {sb} are not aligned: "
            f"{sa[-1]} (last axis of the left) != {sb[0]} (first axis of the right)"
        )
    return np.matmul(a, b)


def _matmul_vjp_a(y_bar: Any, y: Any, a: Any, b: Any) -> Any:
    if ndim_of(b) == 1:
        return y_bar * b if ndim_of(a) == 1 else outer(y_bar, b)  # a·b ; (A b)_i = Σ A_ij b_j
    return matmul(b, y_bar) if ndim_of(a) == 1 else matmul(y_bar, transpose(b))


def _matmul_vjp_b(y_bar: Any, y: Any, a: Any, b: Any) -> Any:
    if ndim_of(a) == 1:
        return y_bar * a if ndim_of(b) == 1 else outer(a, y_bar)
    return matmul(y_bar, a) if ndim_of(b) == 1 else matmul(transpose(a), y_bar)


def _matmul_jvp_b(b_dot: np.ndarray, y: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # b_dot is (k, *b.shape): a @ b_dot broadcasts for a matrix b; a vector b needs b_dot a^T
    return np.matmul(b_dot, np.transpose(a)) if np.ndim(b) == 1 else np.matmul(a, b_dot)


def _sum_value(a: np.ndarray, axis: tuple | None, keepdims: bool) -> np.ndarray:
    return np.add.reduce(a, axis=axis, keepdims=keepdims)  # np.sum minus its wrapper


def _sum_jvp(x_dot: np.ndarray, y: Any, a: Any, axis: tuple | None, keepdims: bool):
    axes = range(np.ndim(a)) if axis is None else axis
    return np.sum(x_dot, axis=tuple(i + 1 for i in axes), keepdims=keepdims)


def _sum_vjp(y_bar: Any, y: Any, a: Any, axis: tuple | None, keepdims: bool) -> Any:
    shape = shape_of(a)
    if not keepdims:  # put the summed axes back as length 1, then broadcast
        kept = tuple(1 if axis is None or i in axis else d for i, d in enumerate(shape))
        y_bar = reshape(y_bar, kept)
    return broadcast_to(y_bar, shape)


def _reshape_value(a: Any, shape: tuple[int, ...]) -> np.ndarray:
    return a.reshape(shape) if isinstance(a, (np.ndarray, np.generic)) else np.reshape(a, shape)


def _broadcast_value(a: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only broadcast view; a small array filled from one number is cheaper."""
    if np.size(a) == 1 and len(shape) == 1 and shape[0] <= 4096:
        return np.full(shape, np.reshape(a, ()))
    return np.broadcast_to(a, shape)


def _batch_last_index(index: Any, nd: int) -> tuple:
    """``index`` for the same array with a trailing batch axis (Ellipsis spelled out)."""
    parts = index if isinstance(index, tuple) else (index,)
    pos = [i for i, p in enumerate(parts) if p is Ellipsis]
    if not pos:
        return parts
    used = 0
    for p in parts:
        if p is None or p is Ellipsis:
            continue
        is_mask = isinstance(p, np.ndarray) and p.dtype == bool
        used += p.ndim if is_mask else 1
    i = pos[0]
    return parts[:i] + (slice(None),) * (nd - used) + parts[i + 1 :]


def _getitem_jvp(x_dot: np.ndarray, y: Any, a: Any, index: Any) -> np.ndarray:
    batch_last = np.moveaxis(x_dot, 0, -1)
    return np.moveaxis(batch_last[_batch_last_index(index, np.ndim(a))], -1, 0)


def _scatter_value(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _scatter_jvp(g_dot: np.ndarray, y: Any, g: Any, index: Any, shape: tuple[int, ...]):
    out = np.zeros(shape + g_dot.shape[:1])
    index_b = _batch_last_index(index, len(shape))
    if _is_basic(index):
        out[index_b] = np.moveaxis(g_dot, 0, -1)
    else:
        np.add.at(out, index_b, np.moveaxis(g_dot, 0, -1))
    return np.moveaxis(out, -1, 0)


def _stack_value(*arrays: Any, axis: int) -> np.ndarray:
    return np.stack(arrays, axis=axis)


def _zeros_for_missing(dots: list, arrays: tuple) -> list[np.ndarray]:
    k = next(d.shape[0] for d in dots if d is not None)
    return [d if d is not None else np.zeros((k, *np.shape(a))) for d, a in zip(dots, arrays)]


def _stack_jvp(dots: list, y: Any, *arrays: Any, axis: int) -> np.ndarray:
    return np.stack(_zeros_for_missing(dots, arrays), axis=axis + 1)


def _stack_vjp(i: int, y_bar: Any, y: Any, *arrays: Any, axis: int) -> Any:
    return getitem(y_bar, (slice(None),) * axis + (i,))


def _concatenate_value(*arrays: Any, axis: int) -> np.ndarray:
    return np.concatenate(arrays, axis=axis)


def _concatenate_jvp(dots: list, y: Any, *arrays: Any, axis: int) -> np.ndarray:
    return np.concatenate(_zeros_for_missing(dots, arrays), axis=axis + 1)


def _concatenate_vjp(i: int, y_bar: Any, y: Any, *arrays: Any, axis: int) -> Any:
    start = 0
    for a in arrays[:i]:
        start += shape_of(a)[axis]
    stop = start + shape_of(arrays[i])[axis]
    return getitem(y_bar, (slice(None),) * axis + (slice(start, stop),))


# -- the table ------------------------------------------------------------------

RULES: dict[str, Rule] = {}


def _entry(rule: Rule) -> Rule:
    RULES[rule.name] = rule
    return rule


# Elementwise arithmetic (numpy broadcasting; the engine undoes it in the VJP).
ADD = _entry(Rule(
    "add", np.add,
    jvp=(lambda a_dot, y, a, b: a_dot, lambda b_dot, y, a, b: b_dot),
    vjp=(lambda y_bar, y, a, b: y_bar, lambda y_bar, y, a, b: y_bar),
    elementwise=True,
    vjp_reads=((), ()),
))  # fmt: skip
SUB = _entry(Rule(
    "sub", np.subtract,
    jvp=(lambda a_dot, y, a, b: a_dot, lambda b_dot, y, a, b: -b_dot),
    vjp=(lambda y_bar, y, a, b: y_bar, lambda y_bar, y, a, b: -y_bar),
    elementwise=True,
    vjp_reads=((), ()), vjp_negates=(False, True),
))  # fmt: skip
MUL = _entry(Rule(
    "mul", np.multiply,  # d(ab) = b da + a db
    jvp=(lambda a_dot, y, a, b: a_dot * b, lambda b_dot, y, a, b: a * b_dot),
    vjp=(lambda y_bar, y, a, b: _times(y_bar, b), lambda y_bar, y, a, b: _times(y_bar, a)),
    elementwise=True,
    vjp_reads=((1,), (0,)),
))  # fmt: skip
DIV = _entry(Rule(
    "div", np.true_divide,  # d(a/b) = da / b - (a/b) db / b
    jvp=(lambda a_dot, y, a, b: a_dot / b, lambda b_dot, y, a, b: -b_dot * (y / b)),
    vjp=(lambda y_bar, y, a, b: y_bar / b, lambda y_bar, y, a, b: -y_bar * (y / b)),
    elementwise=True,
    vjp_reads=((1,), (1,)), saves_output=True,
))  # fmt: skip
NEG = _entry(Rule(
    "neg", np.negative,
    jvp=(lambda x_dot, y, x: -x_dot,),
    vjp=(lambda y_bar, y, x: -y_bar,),
    elementwise=True,
    vjp_reads=((),), vjp_negates=(True,),
))  # fmt: skip
POW = _entry(Rule(
    "pow", np.power,  # d(a^b) = b a^(b-1) da + a^b log(a) db
    jvp=(
        lambda a_dot, y, a, b: a_dot * (b * a ** (b - 1)),
        lambda b_dot, y, a, b: b_dot * (y * np.log(a)),
    ),
    vjp=(
        lambda y_bar, y, a, b: y_bar * (b * a ** (b - 1)),
        lambda y_bar, y, a, b: y_bar * (y * log(a)),
    ),
    elementwise=True,
    saves_output=True,
))  # fmt: skip
POW_CONST = _entry(Rule(
    "pow_const", lambda a, p: a**p,  # d(a^p) = p a^(p-1) da, p a plain number
    jvp=(lambda x_dot, y, x, p: x_dot * _dpow(x, p),),
    vjp=(lambda y_bar, y, x, p: _times_fresh(y_bar, _dpow(x, p)),),
    elementwise=True,
))  # fmt: skip

# Elementwise functions.
EXP = _entry(Rule(
    "exp", np.exp,  # exp' = exp = y
    jvp=(lambda x_dot, y, x: x_dot * y,),
    vjp=(lambda y_bar, y, x: _times(y_bar, y),),
    elementwise=True,
    vjp_reads=((),), saves_output=True,
))  # fmt: skip
LOG = _entry(Rule(
    "log", np.log,  # log' = 1/x
    jvp=(lambda x_dot, y, x: x_dot / x,),
    vjp=(lambda y_bar, y, x: y_bar / x,),
    elementwise=True,
))  # fmt: skip
SIN = _entry(Rule(
    "sin", np.sin,  # sin' = cos
    jvp=(lambda x_dot, y, x: x_dot * np.cos(x),),
    vjp=(lambda y_bar, y, x: _times_fresh(y_bar, cos(x)),),
    elementwise=True,
))  # fmt: skip
COS = _entry(Rule(
    "cos", np.cos,  # cos' = -sin
    jvp=(lambda x_dot, y, x: -x_dot * np.sin(x),),
    vjp=(lambda y_bar, y, x: _times_fresh(y_bar, _minus_sin(x)),),
    elementwise=True,
))  # fmt: skip
TAN = _entry(Rule(
    "tan", np.tan,  # tan' = 1 + tan² = 1 + y²
    jvp=(lambda x_dot, y, x: x_dot * (1.0 + y * y),),
    vjp=(lambda y_bar, y, x: _times_fresh(y_bar, _one_plus_square(y)),),
    elementwise=True,
    vjp_reads=((),), saves_output=True,
))  # fmt: skip
TANH = _entry(Rule(
    "tanh", np.tanh,  # tanh' = 1 - tanh² = 1 - y²
    jvp=(lambda x_dot, y, x: x_dot * (1.0 - y * y),),
    vjp=(lambda y_bar, y, x: _times_fresh(y_bar, _one_minus_square(y)),),
    elementwise=True,
    vjp_reads=((),), saves_output=True,
))  # fmt: skip
SQRT = _entry(Rule(
    "sqrt", np.sqrt,  # sqrt' = 1 / (2 sqrt) = 0.5 / y
    jvp=(lambda x_dot, y, x: x_dot * (0.5 / y),),
    vjp=(lambda y_bar, y, x: _times_fresh(y_bar, 0.5 / y),),
    elementwise=True,
    vjp_reads=((),), saves_output=True,
))  # fmt: skip
ABS = _entry(Rule(
    "abs", np.abs,  # |x|' = sign(x) (0 at 0, as JAX and torch)
    jvp=(lambda x_dot, y, x: x_dot * np.sign(x),),
    vjp=(lambda y_bar, y, x: _times_fresh(y_bar, sign(x)),),
    elementwise=True,
))  # fmt: skip
WHERE = _entry(Rule(
    "where", lambda a, b, cond: np.where(cond, a, b),  # cond is a constant mask
    jvp=(
        lambda a_dot, y, a, b, cond: np.where(cond, a_dot, 0.0),
        lambda b_dot, y, a, b, cond: np.where(cond, 0.0, b_dot),
    ),
    vjp=(
        lambda y_bar, y, a, b, cond: y_bar * cond,
        lambda y_bar, y, a, b, cond: y_bar * ~cond,
    ),
    elementwise=True,
    vjp_reads=((), ()),
))  # fmt: skip

# Linear algebra and reductions.
MATMUL = _entry(Rule(
    "matmul", _matmul_value,  # d(AB) = dA B + A dB
    jvp=(lambda a_dot, y, a, b: np.matmul(a_dot, b), _matmul_jvp_b),
    vjp=(_matmul_vjp_a, _matmul_vjp_b),
    vjp_reads=((1,), (0,)),  # and both shapes
))  # fmt: skip
SUM = _entry(Rule(
    "sum", _sum_value,  # linear; the VJP broadcasts y_bar back
    jvp=(_sum_jvp,),
    vjp=(_sum_vjp,),
    vjp_reads=((),),
))  # fmt: skip

# Shape and structure (all linear: the JVP is the op on the tangent batch,
# the VJP its transpose).
RESHAPE = _entry(Rule(
    "reshape", _reshape_value,
    jvp=(lambda x_dot, y, x, shape: x_dot.reshape(x_dot.shape[:1] + np.shape(y)),),
    vjp=(lambda y_bar, y, x, shape: reshape(y_bar, shape_of(x)),),
    vjp_reads=((),),
))  # fmt: skip
BROADCAST_TO = _entry(Rule(
    "broadcast_to", _broadcast_value,
    jvp=(lambda x_dot, y, x, shape: x_dot,),  # the engine broadcasts elementwise tangents
    vjp=(lambda y_bar, y, x, shape: sum_to_shape(y_bar, shape_of(x)),),
    elementwise=True,
    vjp_reads=((),),
))  # fmt: skip
TRANSPOSE = _entry(Rule(
    "transpose", lambda a, axes: np.transpose(a, axes),
    jvp=(lambda x_dot, y, x, axes: np.transpose(x_dot, (0, *(i + 1 for i in axes))),),
    vjp=(lambda y_bar, y, x, axes: transpose(y_bar, tuple(np.argsort(axes))),),
    vjp_reads=((),),
))  # fmt: skip
GETITEM = _entry(Rule(
    "getitem", lambda a, index: a[index],
    jvp=(_getitem_jvp,),
    vjp=(lambda y_bar, y, x, index: scatter(y_bar, index, shape_of(x)),),
    vjp_reads=((),),
))  # fmt: skip
SCATTER = _entry(Rule(
    "scatter", _scatter_value,  # the transpose of getitem
    jvp=(_scatter_jvp,),
    vjp=(lambda y_bar, y, g, index, shape: getitem(y_bar, index),),
    vjp_reads=((),),
))  # fmt: skip
STACK = _entry(Rule(
    "stack", _stack_value, jvp=_stack_jvp, vjp=_stack_vjp, variadic=True, vjp_reads=()
))  # fmt: skip
CONCATENATE = _entry(Rule(
    "concatenate", _concatenate_value, jvp=_concatenate_jvp, vjp=_concatenate_vjp,
    variadic=True, vjp_reads=(),
))  # fmt: skip


# -- what numpy's own functions map to when called on a Tensor ---------------

UFUNCS: dict[str, Callable[..., Any]] = {
    "add": add,
    "subtract": subtract,
    "multiply": multiply,
    "divide": divide,
    "true_divide": divide,
    "negative": negative,
    "positive": lambda a: a,
    "power": power,
    "square": square,
    "exp": exp,
    "log": log,
    "sin": sin,
    "cos": cos,
    "tan": tan,
    "tanh": tanh,
    "sqrt": sqrt,
    "absolute": absolute,
    "matmul": matmul,
    "maximum": maximum,
    "minimum": minimum,
}

ARRAY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sum": reduce_sum,
    "mean": mean,
    "stack": stack,
    "concatenate": concatenate,
    "transpose": transpose,
    "reshape": reshape,
    "broadcast_to": broadcast_to,
    "where": where,
    "dot": matmul,
    "outer": outer,
    "shape": shape_of,
    "ndim": ndim_of,
    "size": size_of,
}
