#!/usr/bin/env python3
"""Compares two benchmark runs (latest.json files of bench/run.sh).

    bench/compare.py [--threshold PCT] OLD_JSON NEW_JSON

Prints a Markdown report: the two machines (herald-machine-probe's figures),
each scenario's herald figure, ceiling and ratio old → new with heraldd's
CPU per unit, the accept p99 beside its durable ceiling, RSS, and which
targets each run met (bench/targets.py).

The ratios are what to compare: herald and its ceiling were measured side by
side in each run, so a ratio carries across hours and machines where an
absolute figure does not (README, Performance). A regression is a ratio
down by more than PCT percent (default 15: this VM's rounds spread by
10-20 %), the accept p99 over its durable ceiling or RSS up by more than
PCT. When either run had several rounds (bench/run.sh --rounds N), a move
counts only if the two runs' rounds do not overlap as well; otherwise it is
reported as within the spread. Exit status: 0 without regressions, 1
with one, 2 on a usage error or an unreadable file.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import targets  # noqa: E402
from merge_results import is_scenario  # noqa: E402

DEFAULT_THRESHOLD = 15.0


def change(old, new):
    return new / old - 1 if old else float("inf")


def pct(x):
    return f"{x:+.1%}".replace("%", " %")


def num(x, digits=0):
    return f"{x:,.{digits}f}" if x is not None else "–"


def moved(old, new, old_runs, new_runs, threshold, higher_is_better):
    """"regression", "improvement", "within the spread" or "" for a figure
    going from old to new. With several rounds on either side (old_runs,
    new_runs: every round's figure, or None), a move counts only if the two
    sides' rounds do not overlap."""
    c = change(old, new)
    if abs(c) <= threshold:
        return ""
    old_runs, new_runs = old_runs or [old], new_runs or [new]
    if max(len(old_runs), len(new_runs)) > 1 and not (max(new_runs) < min(old_runs) or min(new_runs) > max(old_runs)):
        return "within the spread"
    worse = -c if higher_is_better else c
    return "regression" if worse > 0 else "improvement"


def over_ceiling(run):
    """The accept p99 ÷ the durable ceiling's p99: (the run's, every round's or None)."""
    rounds = None
    if "e2e_p99_ms_runs" in run and "e2e_p99_ceiling_ms_runs" in run:
        rounds = [p / c for p, c in zip(run["e2e_p99_ms_runs"], run["e2e_p99_ceiling_ms_runs"])]
    return run["e2e_p99_ms"] / run["e2e_p99_ceiling_ms"], rounds


def machine_rows(old, new):
    def probe(run, f):
        p = run.get("machine_probe")
        try:
            return f(p) if p else "–"
        except (KeyError, TypeError):
            return "–"
    rows = [("date", old.get("date", "–"), new.get("date", "–")),
            ("commit", old.get("commit", "–"), new.get("commit", "–")),
            ("machine", old.get("machine", "–"), new.get("machine", "–")),
            ("rounds", old.get("rounds", 1), new.get("rounds", 1))]
    for what, f in (("CPU", lambda p: f"{p['cpu_model']}, {p['cpus']} cpus{', virtual' if p['hypervisor'] else ''}"),
                    ("a system call", lambda p: f"{p['syscall_ns']:,} ns"),
                    ("loopback TCP round trip, p50 / p99",
                     lambda p: f"{p['loopback_rtt_us']['p50']:g} / {p['loopback_rtt_us']['p99']:g} µs"),
                    ("4 KB write + fdatasync, p50 / p99",
                     lambda p: f"{p['fdatasync_ms']['p50']:g} / {p['fdatasync_ms']['p99']:g} ms")):
        rows.append((what, probe(old, f), probe(new, f)))
    return rows


def compare(old, new, threshold):
    """(Markdown report, list of regressions)."""
    lines = [f"# herald benchmarks compared: {old.get('date', '?')} → {new.get('date', '?')}\n",
             "| | old | new |", "|---|---|---|"]
    lines += [f"| {w} | {a} | {b} |" for w, a, b in machine_rows(old, new)]
    if old.get("smoke") or new.get("smoke"):
        lines.append("\n_a smoke run is compared: its figures mean nothing_")
    lines += ["", "| scenario | herald | ceiling | ratio | ratio change | heraldd CPU µs per unit | |",
              "|---|---:|---:|---:|---:|---:|---|"]
    verdicts = []  # (what moved, moved()'s word) per row
    for key, o in old.items():
        n = new.get(key)
        if not (is_scenario(o) and is_scenario(n)):
            continue
        verdict = moved(o["ratio"], n["ratio"], o.get("ratios"), n.get("ratios"), threshold, True)
        cpu = ""
        if "cpu" in o and "cpu" in n:
            cpu = f"{o['cpu']['herald_us']:g} → {n['cpu']['herald_us']:g}"
        lines.append(f"| {key} | {num(o['herald'])} → {num(n['herald'])} {n['unit']} | "
                     f"{num(o['ceiling'])} → {num(n['ceiling'])} | {o['ratio']:.2f} → {n['ratio']:.2f} | "
                     f"{pct(change(o['ratio'], n['ratio']))} | {cpu} | {verdict} |")
        verdicts.append((f"{key} ratio {o['ratio']:.2f} → {n['ratio']:.2f}", verdict))
    if "e2e_p99_ms" in old and "e2e_p99_ms" in new:
        # Judged over its durable ceiling, measured beside it: the disk's own
        # tail moves from hour to hour and machine to machine.
        o_over, n_over = (over_ceiling(r) for r in (old, new))
        verdict = moved(o_over[0], n_over[0], o_over[1], n_over[1], threshold, False)
        rates = [r.get("e2e_latency", {}).get("offered_rate") for r in (old, new)]
        at = f" at {num(rates[1])}/s" if rates[0] == rates[1] and rates[1] else ""
        lines.append(f"| accept p99{at} | {old['e2e_p99_ms']:.2f} → "
                     f"{new['e2e_p99_ms']:.2f} ms | {old['e2e_p99_ceiling_ms']:.2f} → {new['e2e_p99_ceiling_ms']:.2f} ms"
                     f" | {o_over[0]:.2f} → {n_over[0]:.2f} times it | {pct(change(o_over[0], n_over[0]))} | | {verdict} |")
        verdicts.append((f"accept p99 {old['e2e_p99_ms']:.2f} → {new['e2e_p99_ms']:.2f} ms "
                         f"({o_over[0]:.2f} → {n_over[0]:.2f} times its ceiling)", verdict))
    if "rss_mb" in old and "rss_mb" in new:
        verdict = moved(old["rss_mb"], new["rss_mb"], None, None, threshold, False)
        lines.append(f"| RSS, 100k partners × 10 contacts | {old['rss_mb']:g} → {new['rss_mb']:g} MB | | | "
                     f"{pct(change(old['rss_mb'], new['rss_mb']))} | | {verdict} |")
        verdicts.append((f"RSS {old['rss_mb']:g} → {new['rss_mb']:g} MB", verdict))
    regressions = [what for what, v in verdicts if v == "regression"]
    t_old, t_new = targets.judge(old), targets.judge(new)
    lines.append(f"\nTargets met: {t_old['met']} of {t_old['of']} → {t_new['met']} of {t_new['of']}.")
    for label, was, now in (("Newly met", False, True), ("No longer met", True, False)):
        names = [i["what"] for k, i in t_new["items"].items()
                 if k in t_old["items"] and t_old["items"][k]["met"] is was and i["met"] is now]
        if names:
            lines.append(f"{label}: {'; '.join(names)}.")
    lines.append(f"\nRegressions (beyond {threshold:.0%}): " + ("; ".join(regressions) if regressions else "none") + ".")
    return "\n".join(lines) + "\n", regressions


def main(argv):
    threshold, paths = DEFAULT_THRESHOLD, []
    args = iter(argv)
    for a in args:
        if a == "--threshold":
            try:
                threshold = float(next(args, ""))
            except ValueError:
                threshold = -1
            if threshold < 0:
                print("bench/compare.py: --threshold wants a percentage ≥ 0", file=sys.stderr)
                return 2
        elif a.startswith("-"):
            print(__doc__, file=sys.stderr)
            return 2
        else:
            paths.append(a)
    if len(paths) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    runs = [targets.load(p) for p in paths]
    if None in runs:
        return 2
    report, regressions = compare(runs[0], runs[1], threshold / 100)
    print(report, end="")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
