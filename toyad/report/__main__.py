"""Command line: rebuild a report, or compare two runs.

    python -m toyad.report [RUN] [--out DIR]     # RUN: JSON file or run folder (reports/latest)
    python -m toyad.report compare RUN_A RUN_B [--out DIR]
    python -m toyad.report merge RUN... [--out DIR] [--allow-mixed]

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


def _merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} merge",
        description="Merge runs (shards, or runs on other machines) into one run folder.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders or JSON files")
    parser.add_argument(
        "--out", help="the merged run folder (default: a new folder under reports/ and latest)"
    )
    parser.add_argument(
        "--allow-mixed",
        action="store_true",
        help="merge runs of different commits or profiles (refused by default)",
    )
    return parser


def _merge(argv: list[str]) -> None:
    import json

    from toyad.report import publish
    from toyad.report.merge import duplicate_lines, merge_runs, summary_line
    from toyad.report.table import atomic_write_text

    args = _merge_parser().parse_args(argv)
    merged = merge_runs(args.runs, allow_mixed=args.allow_mixed)
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(merged, indent=1, default=str) + "\n"
        atomic_write_text(folder / "benchmark.json", text)
        write_report(folder, folder)
    else:
        folder = publish(merged, Path("reports"))
    print(summary_line(merged))
    for line in duplicate_lines(merged):
        print(line)
    for line in merged["toyad"]["merge"]["conflicts"]:
        print(f"warning: {line}")
    print(
        f"wrote {folder / 'benchmark.json'}, {folder / 'index.html'} and {folder / 'results.csv'}"
    )


def _run_name(path: str) -> str:
    json_path = resolve_json_path(path)
    return json_path.parent.name if json_path.name == "benchmark.json" else json_path.stem


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["merge"]:
            _merge(argv[1:])
        elif argv[:1] == ["compare"]:
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
