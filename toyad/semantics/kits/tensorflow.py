"""The TensorFlow kit: GradientTape and ForwardAccumulator, eager, float64.

TensorFlow is imported on first use, after :func:`toyad.runtime.configure`
(thread counts are read when TF initialises); no global switch (numpy
behaviour stays off, as in the toyad adapters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from toyad import runtime
from toyad.semantics.kits.base import Kit, Scalar


class TensorFlowKit(Kit):
    """GradientTape / ForwardAccumulator, eager, float64, numpy behaviour off (as the adapters)."""

    def _tf(self) -> Any:
        runtime.configure()  # thread counts are read when TF initialises
        import tensorflow as tf

        return tf

    def ns(self) -> Any:
        tf = self._tf()

        def like(a: Any, b: Any) -> Any:
            return b if tf.is_tensor(b) else tf.constant(b, dtype=a.dtype)

        return SimpleNamespace(
            sin=tf.sin,
            cos=tf.cos,
            exp=tf.exp,
            log=tf.math.log,
            sqrt=tf.sqrt,
            abs=tf.abs,
            relu=tf.nn.relu,
            maximum=lambda a, b: tf.maximum(a, like(a, b)),
            where=lambda c, a, b: tf.where(tf.constant(c), a, like(a, b)),
            sum=tf.reduce_sum,
        )

    def _inputs(self, args: Sequence[float]) -> list[Any]:
        tf = self._tf()
        return [tf.constant(a, dtype=tf.float64) for a in args]

    def value(self, f: Scalar, *args: float) -> Any:
        return f(self.ns(), *self._inputs(args))

    def _partials(self, f: Scalar, args: Sequence[float], **kw: Any) -> tuple[Any, ...]:
        tf = self._tf()
        xs = self._inputs(args)
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            y = f(self.ns(), *xs)
        return tuple(tape.gradient(y, xs, **kw))

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        return self._partials(f, args)

    def unused_zeros(self, f: Scalar, *args: float) -> Any:
        tf = self._tf()
        return self._partials(f, args, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        tf = self._tf()
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = f(self.ns(), xt)
        return tape.gradient(y, xt)

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        tf = self._tf()
        ns = self.ns()
        x = tf.constant(x0, dtype=tf.float64)
        one = tf.constant(1.0, dtype=tf.float64)
        if combo == "rr":  # nested tapes
            with tf.GradientTape() as outer:
                outer.watch(x)
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    y = f(ns, x)
                d1 = inner.gradient(y, x)
            return outer.gradient(d1, x)
        if combo == "fr":  # ForwardAccumulator around a tape
            with tf.autodiff.ForwardAccumulator(x, one) as acc:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = f(ns, x)
                d1 = tape.gradient(y, x)
            return acc.jvp(d1)
        if combo == "rf":  # a tape around a ForwardAccumulator
            with tf.GradientTape() as tape:
                tape.watch(x)
                with tf.autodiff.ForwardAccumulator(x, one) as acc:
                    y = f(ns, x)
                d1 = acc.jvp(y)
            return tape.gradient(d1, x)
        with tf.autodiff.ForwardAccumulator(x, one) as outer:  # ff: nested accumulators
            with tf.autodiff.ForwardAccumulator(x, one) as inner:
                y = f(ns, x)
            d1 = inner.jvp(y)
        return outer.jvp(d1)

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        tf = self._tf()
        x = tf.constant(x0, dtype=tf.float64)
        with tf.GradientTape(persistent=retain) as tape:
            tape.watch(x)
            y = f(self.ns(), x)
        tape.gradient(y, x)
        return tape.gradient(y, x)
