"""CLI: ``python -m toyad.gradbench BACKEND`` serves GradBench's protocol on stdin/stdout.

Only protocol lines reach the real stdout: file descriptor 1 is duplicated for
the protocol writer, then pointed at stderr, so anything a library prints (from
Python or C) goes to stderr. ``--matrix`` runs :mod:`toyad.gradbench.matrix`.
"""

from __future__ import annotations

import argparse
import os
import sys

from toyad.gradbench import functions as fn


def _protocol_stdout():
    """A text stream on the original stdout; fd 1 and sys.stdout now go to stderr."""
    sys.stdout.flush()
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(proto_fd, "w", encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--matrix" in argv:
        from toyad.gradbench import matrix

        return matrix.main([a for a in argv if a != "--matrix"])
    from toyad import backends

    parser = argparse.ArgumentParser(
        prog="toyad-gradbench",
        description="Serve GradBench's JSON-lines protocol with one toyad backend "
        "(or --matrix: the backend x eval table).",
    )
    parser.add_argument("backend", help=f"one of: {', '.join(backends.names())}")
    parser.add_argument(
        "--mode",
        choices=("forward", "reverse"),
        help="AD mode for gradients and Jacobians (default: the backend's default)",
    )
    parser.add_argument(
        "--max-dense-gib",
        type=float,
        default=fn.MAX_DENSE_BYTES / 2**30,
        help="refuse a dense Jacobian/Hessian larger than this (GiB)",
    )
    args = parser.parse_args(argv)
    if args.backend not in backends.names():
        parser.error(f"unknown backend {args.backend!r}; known: {', '.join(backends.names())}")

    from toyad.gradbench.tool import Tool, serve

    out = _protocol_stdout()
    tool = Tool(args.backend, args.mode, int(args.max_dense_gib * 2**30), log=sys.stderr)
    try:
        serve(tool, sys.stdin.buffer, out)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
