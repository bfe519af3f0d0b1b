#!/usr/bin/env python3
"""Merges the scenario files of one or more benchmark rounds into latest.json.

    bench/merge_results.py [--smoke] [--probe FILE] [--markdown MD] [--commit REV] ROUND_DIR [ROUND_DIR ...] > latest.json

Each ROUND_DIR holds one round's http.json, smtp.json, redis.json and e2e.json
(and rss.json in at least one round; the first one found is used). With one
round the scenarios are copied as they are. With several, each throughput
scenario (a dict with herald, ceiling and ratio) is taken whole from the round
with the median ratio, so its herald and ceiling figures always come from the
same side-by-side run, and gains "ratios" and "herald_runs": every round's
figures in round order (and "herald_us_runs", heraldd's CPU µs per unit,
where the scenario has "cpu"). The latency keys (e2e_latency, e2e_latency_ceiling,
e2e_p99_ms, e2e_p99_ceiling_ms) come together from the round with the median
e2e_p99_ms, plus "e2e_p99_ms_runs" and "e2e_p99_ceiling_ms_runs". Shared machines are noisy (README,
Performance): the median of a few rounds moves far less than one run.
With several rounds and --markdown, a summary table is appended to MD.
--probe FILE (herald-machine-probe's output) becomes "machine_probe".
"targets" holds each target's figure and verdict (bench/targets.py), and
--markdown appends their table to MD. --commit REV (the source's `git
describe --always --dirty`) becomes "commit", so two runs compared say which
code each measured.
"""
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import targets  # noqa: E402  (bench/targets.py, beside this script)

SCENARIO_FILES = ("http", "smtp", "redis", "e2e")
LATENCY_KEYS = ("e2e_latency", "e2e_latency_ceiling", "e2e_p99_ms", "e2e_p99_ceiling_ms")


def median_index(values):
    """The index of the median value (the lower middle for an even count)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    return order[(len(order) - 1) // 2]


def is_scenario(value):
    return isinstance(value, dict) and {"herald", "ceiling", "ratio"} <= value.keys()


def merge(round_dirs, smoke, probe=None, commit=None):
    rounds = []
    for d in round_dirs:
        data = {}
        for name in SCENARIO_FILES:
            with open(os.path.join(d, f"{name}.json")) as f:
                data.update(json.load(f))
        rss = os.path.join(d, "rss.json")
        if os.path.exists(rss):
            with open(rss) as f:
                data.update(json.load(f))
        rounds.append(data)
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "smoke": smoke, "rounds": len(rounds)}
    if commit:
        out["commit"] = commit
    first = rounds[0]
    for key, value in first.items():
        if key in LATENCY_KEYS or key == "machine":
            continue
        if is_scenario(value) and len(rounds) > 1:
            ratios = [r[key]["ratio"] for r in rounds]
            chosen = dict(rounds[median_index(ratios)][key])
            chosen["ratios"] = ratios
            chosen["herald_runs"] = [r[key]["herald"] for r in rounds]
            if all("cpu" in r[key] for r in rounds):
                chosen["herald_us_runs"] = [r[key]["cpu"]["herald_us"] for r in rounds]
            out[key] = chosen
        else:
            out[key] = value
    p99s = [r["e2e_p99_ms"] for r in rounds]
    latency_round = rounds[median_index(p99s)]
    for key in LATENCY_KEYS:
        out[key] = latency_round[key]
    if len(rounds) > 1:
        out["e2e_p99_ms_runs"] = p99s
        out["e2e_p99_ceiling_ms_runs"] = [r["e2e_p99_ceiling_ms"] for r in rounds]
    for r in rounds:  # memory is measured in the first round only
        if "rss_mb" in r:
            out["rss_mb"], out["rss"] = r["rss_mb"], r["rss"]
            break
    out["machine"] = first["machine"]
    if probe is not None:
        out["machine_probe"] = probe
    out["not_measured"] = []  # the soak has its own mode and file (soak.json)
    out["targets"] = targets.judge(out)
    return out


def summary_table(merged):
    """Markdown: each scenario's median round beside every round's ratio."""
    lines = [f"\n## Median of {merged['rounds']} rounds\n",
             "| scenario | herald | ceiling | ratio (median round) | ratios, round by round "
             "| heraldd CPU µs per unit, round by round |",
             "|---|---:|---:|---:|---|---|"]
    for key, value in merged.items():
        if is_scenario(value) and "ratios" in value:
            runs = ", ".join(f"{r:.2f}" for r in value["ratios"])
            cpu = ", ".join(f"{us:g}" for us in value.get("herald_us_runs", []))
            lines.append(f"| {key} | {value['herald']:,.0f} {value['unit']} | {value['ceiling']:,.0f} | "
                         f"**{value['ratio']:.2f}** | {runs} | {cpu} |")
    if "e2e_p99_ms_runs" in merged:
        runs = ", ".join(f"{p:.2f}" for p in merged["e2e_p99_ms_runs"])
        lines.append(f"| accept p99 at {int(merged['e2e_latency']['offered_rate']):,}/s | "
                     f"**{merged['e2e_p99_ms']:.2f} ms** | {merged['e2e_p99_ceiling_ms']:.2f} ms | | {runs} ms | |")
    return "\n".join(lines) + "\n"


def main(argv):
    smoke, markdown, probe, commit, dirs = False, None, None, None, []
    args = iter(argv)
    for a in args:
        if a == "--smoke":
            smoke = True
        elif a == "--markdown":
            markdown = next(args, None)
        elif a == "--probe":
            with open(next(args)) as f:
                probe = json.load(f)
        elif a == "--commit":
            commit = next(args, None)
        else:
            dirs.append(a)
    if not dirs:
        print(__doc__, file=sys.stderr)
        return 2
    merged = merge(dirs, smoke, probe, commit)
    print(json.dumps(merged, indent=2))
    if markdown:
        with open(markdown, "a") as f:
            if len(dirs) > 1:
                f.write(summary_table(merged))
            f.write(targets.markdown(merged["targets"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
