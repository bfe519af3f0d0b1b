#!/usr/bin/env python3
"""Keeps a benchmark run and compares it with the one kept before it.

    bench/keep_run.py RESULTS_DIR

Copies RESULTS_DIR/latest.json to RESULTS_DIR/runs/<its date>.json and,
when an earlier run is kept there, appends its comparison with that run
(bench/compare.py) to RESULTS_DIR/latest.md and prints it. bench/run.sh
calls it after every full run, so a run says at once what moved since the
last one on this machine; `bench/compare.py` takes any two of runs/.
Smoke runs are not kept. Exit status 0 whatever the comparison found (it
is a report, not a verdict on the run); 2 when latest.json is unreadable.
"""
import datetime
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402


def stamp(run):
    """runs/ file name of a run: its date in UTC, sortable."""
    when = datetime.datetime.fromisoformat(run["date"]).astimezone(datetime.timezone.utc)
    return when.strftime("%Y%m%dT%H%M%SZ") + ".json"


def keep(results):
    """(path kept or None, comparison Markdown or None)."""
    latest = os.path.join(results, "latest.json")
    with open(latest) as f:
        run = json.load(f)
    if run.get("smoke"):
        return None, None
    runs = os.path.join(results, "runs")
    os.makedirs(runs, exist_ok=True)
    name = stamp(run)
    earlier = sorted(n for n in os.listdir(runs) if n.endswith(".json") and n < name)
    kept = os.path.join(runs, name)
    shutil.copyfile(latest, kept)
    if not earlier:
        return kept, None
    with open(os.path.join(runs, earlier[-1])) as f:
        previous = json.load(f)
    report, _ = compare.compare(previous, run, compare.DEFAULT_THRESHOLD / 100)
    report = "\n" + report.replace("# herald benchmarks compared:", f"## Against the previous run (runs/{earlier[-1]}):", 1)
    with open(os.path.join(results, "latest.md"), "a") as f:
        f.write(report)
    return kept, report


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        kept, report = keep(argv[0])
    except (OSError, ValueError, KeyError) as e:
        print(f"bench/keep_run.py: {e}", file=sys.stderr)
        return 2
    if report:
        print(report, end="")
    if kept:
        print(f"kept as {kept}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
