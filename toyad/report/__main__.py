"""Command line: rebuild a report, or compare two runs.

    python -m toyad.report [RUN] [--out DIR]     # RUN: JSON file or run folder (reports/latest)
    python -m toyad.report compare RUN_A RUN_B [--out DIR]

Bad input prints ``toyad-report: error: <message>`` and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toyad.report import ReportError, write_report
from toyad.report.compare import summary_line, write_comparison
from toyad.report.load import resolve_json_path

PROG = "toyad-report"
DEFAULT_RUN = Path("reports") / "latest"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Rebuild results.csv and index.html from a saved run "
        f"(or '{PROG} compare RUN_A RUN_B' to compare two runs).",
    )
    parser.add_argument(
        "run", nargs="?", default=str(DEFAULT_RUN), help="run JSON file or run folder"
    )
    parser.add_argument("--out", help="output folder (default: the folder holding the run JSON)")
    return parser


def _compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} compare", description="Compare run b against run a."
    )
    parser.add_argument("run_a", help="the earlier run (JSON file or run folder)")
    parser.add_argument("run_b", help="the later run (JSON file or run folder)")
    parser.add_argument("--out", help="output folder (default: reports/compare-<a>-vs-<b>)")
    return parser


def _run_name(path: str) -> str:
    json_path = resolve_json_path(path)
    return json_path.parent.name if json_path.name == "benchmark.json" else json_path.stem


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["compare"]:
            args = _compare_parser().parse_args(argv[1:])
            out = (
                args.out
                or Path("reports") / f"compare-{_run_name(args.run_a)}-vs-{_run_name(args.run_b)}"
            )
            folder, summary = write_comparison(args.run_a, args.run_b, out)
            print(summary_line(summary))
            print(f"wrote {folder / 'compare.html'} and {folder / 'compare.csv'}")
        else:
            args = _build_parser().parse_args(argv)
            out = args.out or resolve_json_path(args.run).parent
            folder = write_report(args.run, out)
            print(f"wrote {folder / 'index.html'} and {folder / 'results.csv'}")
    except ReportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
