"""GradBench ``lstm``: ``objective`` = next-character log loss of a diagonal LSTM, ``jacobian``.

x = main_params (2l × 4b) row by row, then extra_params (3 × b) row by row
(the eval's ``jacobian`` order); state (2l × b) and sequence (c × b) are
constants. Layer i: main_params row 2i = weights, 2i+1 = biases, each four
blocks of b (forget, ingate, outgate, change); state row 2i = hidden h, 2i+1 =
cell. extra_params rows: in_weight, out_weight, out_bias. For t = 0..c-2:
v = sequence[t] ⊙ in_weight through the layers (f = σ(in·Wf + bf),
g = σ(h·Wi + bi), o = σ(in·Wo + bo), ch = tanh(h·Wc + bc), c = c·f + g·ch,
h = o·tanh c), ypred = h_top ⊙ out_weight + out_bias,
lse = log(Σ exp ypred + 2) (the +2 is GradBench's reference),
total += Σ sequence[t+1] ⊙ (ypred - lse); objective = -total / ((c-1) b).

Inputs differ from GradBench's in two stated ways: (1) GradBench draws state,
main_params, extra_params with an *unseeded* ``np.random.random``; we make
the same calls on ``np.random.RandomState(31337 + seed)``; (2) GradBench's text
is Shakespeare's sonnets (``evals/lstm/data/lstm_full.txt``, not shipped);
we use :func:`text`, a deterministic English-like text that starts with the
curly apostrophe U+2019, so every prefix has b = ceil(log2(max code point))
= 14 bits, like the original.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from toyad.problems import Instance, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats, presets, sweep

SWEEP = sweep({"l": [2, 4], "c": [1024, 4096]}, lambda l, c: l * c)  # noqa: E741
PRESETS = presets("l={l},c={c}", SWEEP, lambda p: {"l": p["l"], "c": p["c"]}, quick=1)

_WORDS = [
    "thy",
    "thou",
    "thee",
    "love",
    "time",
    "beauty",
    "sweet",
    "fair",
    "eyes",
    "heart",
    "day",
    "night",
    "summer",
    "worth",
    "doth",
    "art",
    "hath",
    "shall",
    "truth",
    "praise",
    "youth",
    "age",
    "death",
    "glass",
    "rose",
    "spring",
    "winter",
    "verse",
    "muse",
    "eternal",
    "lines",
    "mine",
    "self",
    "world",
    "nature",
    "grace",
    "show",
]


def text(count: int, seed: int = 14) -> str:
    """A deterministic text of ``count`` characters starting ``’Tis`` (U+2019)."""
    rs = np.random.RandomState(seed)
    parts = ["\u2019Tis"]
    size = 4
    while size < count:
        word = _WORDS[rs.randint(len(_WORDS))]
        if rs.rand() < 0.08:
            word += "\u2019s"
        if rs.rand() < 0.1:
            word += ","
        if rs.rand() < 0.05:
            word = word.capitalize() + "\n"
        parts.append(" " + word)
        size += len(word) + 1
    return "".join(parts)[:count]


def char_bits(chars: str) -> int:
    return math.ceil(math.log2(max(ord(ch) for ch in chars)))


def text_matrix(chars: str, bits: int) -> np.ndarray:
    """Each character's code point in binary, MSB first, as 0.0/1.0 rows."""
    return np.array([[float(b) for b in bin(ord(ch))[2:].zfill(bits)] for ch in chars])


def gradbench_input(l: int, c: int, seed: int = 0) -> dict:  # noqa: E741 (GradBench's name)
    chars = text(c)
    bits = char_bits(chars)
    rs = np.random.RandomState(GRADBENCH_SEED + seed)  # GradBench: unseeded np.random
    state = rs.random_sample((2 * l, bits))
    main_params = rs.random_sample((2 * l, bits * 4))
    extra_params = rs.random_sample((3, bits))
    return {
        "main_params": main_params.tolist(),
        "extra_params": extra_params.tolist(),
        "state": state.tolist(),
        "sequence": text_matrix(chars, bits).tolist(),
    }


def _parts(inp: dict) -> tuple[np.ndarray, dict]:
    main = np.asarray(inp["main_params"], dtype=np.float64)
    extra = np.asarray(inp["extra_params"], dtype=np.float64)
    state = np.asarray(inp["state"], dtype=np.float64)
    seq = np.asarray(inp["sequence"], dtype=np.float64)
    layers, b = main.shape[0] // 2, extra.shape[1]
    if main.shape != (2 * layers, 4 * b) or state.shape != (2 * layers, b) or seq.shape[1] != b:
        raise ValueError("lstm: inconsistent main_params/extra_params/state/sequence shapes")
    if seq.shape[0] < 2:
        raise ValueError("lstm: the sequence needs at least 2 characters")
    x = np.concatenate([main.reshape(-1), extra.reshape(-1)])
    return x, {"state": state, "sequence": seq, "layers": layers, "bits": b}


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    x, consts = _parts(inp)
    return PROBLEM.from_parts(x, consts, seed, l=consts["layers"], c=consts["sequence"].shape[0])


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    if function == "objective":
        return float(np.asarray(result).reshape(()))
    if function == "jacobian":
        return floats(np.asarray(result).reshape(-1))
    raise ValueError(f"lstm has functions objective, jacobian; not {function!r}")


# -- f(xp, x) ------------------------------------------------------------------------


def _f(xp: Any, x: Any, state: np.ndarray, sequence: np.ndarray, layers: int, bits: int) -> Any:
    b = bits
    main = 8 * layers * b

    def sigmoid(z: Any) -> Any:
        return 1.0 / (1.0 + xp.exp(-z))

    def block(row: int, j: int) -> Any:
        start = row * 4 * b + j * b
        return x[start : start + b]

    w = [[block(2 * i, j) for j in range(4)] for i in range(layers)]
    bias = [[block(2 * i + 1, j) for j in range(4)] for i in range(layers)]
    in_w, out_w, out_b = x[main : main + b], x[main + b : main + 2 * b], x[main + 2 * b :]
    st = xp.asarray(state)
    seq = xp.asarray(sequence)
    steps = sequence.shape[0] - 1

    def step(carry: tuple, pair: tuple) -> tuple[tuple, None]:
        """One character: every layer's (hidden, cell) state, the loss so far."""
        *states, total = carry
        now, following = pair
        hid, cell = list(states[0::2]), list(states[1::2])
        inp = now * in_w
        for i in range(layers):
            wf, wi, wo, wc = w[i]
            bf, bi, bo, bc = bias[i]
            forget = sigmoid(inp * wf + bf)
            ingate = sigmoid(hid[i] * wi + bi)
            outgate = sigmoid(inp * wo + bo)
            change = xp.tanh(hid[i] * wc + bc)
            cell[i] = cell[i] * forget + ingate * change
            hid[i] = outgate * xp.tanh(cell[i])
            inp = hid[i]
        ypred = inp * out_w + out_b
        lse = xp.log(xp.sum(xp.exp(ypred)) + 2.0)
        total = total + xp.sum(following * (ypred - lse))
        new_states = [s for i in range(layers) for s in (hid[i], cell[i])]
        return (*new_states, total), None

    start = tuple(st[k] for k in range(2 * layers)) + (0.0,)
    # a loop over the characters (xp.scan): a tracing backend compiles one step, not
    # every step unrolled
    carry, _ = xp.scan(step, start, (seq[0:steps], seq[1 : steps + 1]))
    return carry[-1] * (-1.0 / (steps * b))


# -- hand-written numpy: forward and backpropagation through time ----------------------


def _sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _unpack(x: np.ndarray, layers: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    main = x[: 8 * layers * b].reshape(2 * layers, 4, b)
    return main, x[8 * layers * b :].reshape(3, b)


def _value(x: np.ndarray, state: np.ndarray, sequence: np.ndarray, layers: int, bits: int):
    return _run(x, state, sequence, layers, bits, grad=False)


def _gradient(x: np.ndarray, state: np.ndarray, sequence: np.ndarray, layers: int, bits: int):
    return _run(x, state, sequence, layers, bits, grad=True)


def _run(x, state, sequence, layers, b, grad):
    main, extra = _unpack(x, layers, b)
    in_w, out_w, out_b = extra
    hid = [state[2 * i].copy() for i in range(layers)]
    cell = [state[2 * i + 1].copy() for i in range(layers)]
    steps = sequence.shape[0] - 1
    scale = -1.0 / (steps * b)
    tape = []
    total = 0.0
    for t in range(steps):
        inp = sequence[t] * in_w
        rec = []
        for i in range(layers):
            (wf, wi, wo, wc), (bf, bi, bo, bc) = main[2 * i], main[2 * i + 1]
            f, g = _sig(inp * wf + bf), _sig(hid[i] * wi + bi)
            o, ch = _sig(inp * wo + bo), np.tanh(hid[i] * wc + bc)
            c_new = cell[i] * f + g * ch
            th = np.tanh(c_new)
            rec.append((inp, hid[i], cell[i], f, g, o, ch, th))
            cell[i], hid[i] = c_new, o * th
            inp = hid[i]
        ypred = inp * out_w + out_b
        e = np.exp(ypred)
        denom = e.sum() + 2.0
        total += np.sum(sequence[t + 1] * (ypred - np.log(denom)))
        tape.append((rec, inp, e / denom))
    if not grad:
        return total * scale
    g_main = np.zeros_like(main)
    g_in, g_out_w, g_out_b = np.zeros(b), np.zeros(b), np.zeros(b)
    dh_next = [np.zeros(b) for _ in range(layers)]  # from step t+1's use of h as h_prev
    dc_next = [np.zeros(b) for _ in range(layers)]
    for t in reversed(range(steps)):
        rec, top, soft = tape[t]
        target = sequence[t + 1]
        dy = scale * (target - target.sum() * soft)  # ∂/∂ypred of scale·Σ s (ypred - lse)
        g_out_w += dy * top
        g_out_b += dy
        d_up = dy * out_w  # into the top layer's h
        for i in reversed(range(layers)):
            inp, h_prev, c_prev, f, g, o, ch, th = rec[i]
            (wf, wi, wo, wc), _ = main[2 * i], main[2 * i + 1]
            dh = d_up + dh_next[i]
            do = dh * th
            dc = dc_next[i] + dh * o * (1.0 - th * th)
            da_f = dc * c_prev * f * (1.0 - f)
            da_g = dc * ch * g * (1.0 - g)
            da_o = do * o * (1.0 - o)
            da_c = dc * g * (1.0 - ch * ch)
            g_main[2 * i] += np.stack([da_f * inp, da_g * h_prev, da_o * inp, da_c * h_prev])
            g_main[2 * i + 1] += np.stack([da_f, da_g, da_o, da_c])
            dh_next[i] = da_g * wi + da_c * wc
            dc_next[i] = dc * f
            d_up = da_f * wf + da_o * wo  # into the input: the layer below's h (or v)
        g_in += d_up * sequence[t]
    return np.concatenate([g_main.reshape(-1), g_in, g_out_w, g_out_b])


def _setup(n: int, m: int, seed: int, l: int, c: int) -> tuple[np.ndarray, dict]:  # noqa: E741
    return _parts(gradbench_input(l, c, seed))


PROBLEM = Problem(
    "lstm",
    "GradBench lstm: next-character log loss of an l-layer diagonal LSTM over c characters "
    "(b = 14 bits); x = [main_params, extra_params]",
    scalar=True,
    scales=(),
    default_n=8 * 2 * 14 + 3 * 14,
    default_m=1,
    setup=_setup,
    body=_f,
    primal=_value,
    derivative=_gradient,
    options={"l": 2, "c": 1024},
    sizes_from=lambda x, consts: (x.shape[0], 1),
    presets=PRESETS,
    workload="lstm",
)

WORKLOAD = Workload(
    "lstm",
    {"objective": ("lstm", "primal"), "jacobian": ("lstm", "gradient")},
    PRESETS,
    "l={l},c={c}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
    notes="GradBench's default sweep also has l=6 and c=8192; its parameters are unseeded "
    "(ours: RandomState(31337)) and its text is Shakespeare's sonnets (ours: lstm.text)",
)
