#!/usr/bin/env python3
"""herald's performance targets, judged against a benchmark run's latest.json.

    bench/targets.py [LATEST_JSON [SOAK_JSON]]
        (defaults bench/results/latest.json and the soak.json beside it, if any)

Prints a Markdown table of every target with the run's figure and whether it
was met, and beside an absolute bound the same run's ceiling for it (what a
server doing no work, smtp-source or a write + fdatasync alone managed on
this machine) with the bound as a multiple of it: a bound near or above its
ceiling asks what this machine can hardly give whatever herald does. Below
the table, a rate bound whose run measured its CPU per unit (HTTP, NDJSON,
Redis, end to end) gets its budget: the CPU per unit every core together
has at the bound, what the same run's load generator, kernel threads and
peers (redis-server, smtp-sink) took of it, and so what heraldd could
spend, beside what it spent; less heraldd's own kernel time (its system
calls' TCP and disk work), what its own code could spend, beside what it
took. It exits 0 when all were met, 1 when one was not (or was not
measured), 2 on a usage error. bench/merge_results.py stores the same
verdicts under latest.json's "targets" key and appends the table to
latest.md, so every run states where it stands. The soak (bench/run.sh
--soak) is a run of its own: its verdict joins the table here, with its
date, when a soak.json is given or lies beside LATEST_JSON.

The targets are set for a machine of TARGET_CORES cores running heraldd
and its load generators and peers together (bench/run.sh). On another
core count the verdicts are still given, with the count beside them. A
smoke run's figures mean nothing, so it is not judged ("met": null).
"""
import json
import os
import re
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak_verdict  # noqa: E402  (bench/soak_verdict.py, beside this script)

TARGET_CORES = 2


def lookup(run, path):
    v = run
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


@dataclass(frozen=True)
class Target:
    key: str    # stable key under latest.json's "targets"
    what: str
    path: tuple  # where latest.json keeps the figure
    op: str     # ">=" or "<="
    bound: float
    unit: str
    # What the figure must have been measured at: ((path, value), …). A run
    # measured otherwise (a smoke run's 1 000 partners) has no figure for it.
    at: tuple = ()
    # Where latest.json keeps the same run's ceiling for an absolute bound
    # (measured side by side with the figure), and what that ceiling is.
    ceiling_path: tuple = ()
    ceiling_what: str = ""
    # Where the run keeps its CPU per unit for a rate bound (the scenario's
    # "cpu": heraldd's and every core's busy time), and the unit of work it
    # is per ("e-mail").
    cpu_path: tuple = ()
    cpu_per: str = ""
    cpu_peers: str = "load generator and kernel threads"  # whose CPU the budget subtracts

    def measured_as_targeted(self, run):
        return all(lookup(run, path) == expected for path, expected in self.at)

    def value(self, run):
        return lookup(run, self.path) if self.measured_as_targeted(run) else None

    def met(self, value):
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def ceiling(self, run):
        """The run's ceiling for this bound (a positive number), else None."""
        if not self.ceiling_path or not self.measured_as_targeted(run):
            return None
        c = lookup(run, self.ceiling_path)
        return c if is_positive(c) else None

    def budget(self, run, cores):
        """What the bound leaves heraldd of the machine's CPU per unit, given
        what this run's peers spent on each (a dict), else None."""
        if not self.cpu_path or not cores or not self.measured_as_targeted(run):
            return None
        cpu = lookup(run, self.cpu_path)
        if not isinstance(cpu, dict) or not all(is_number(cpu.get(k)) for k in ("herald_us", "machine_us")):
            return None
        at_bound = cores * 1e6 / self.bound
        peers = max(cpu["machine_us"] - cpu["herald_us"], 0.0)  # every core's busy time but heraldd's
        out = {"per": self.cpu_per, "cores": cores, "machine_us_at_bound": round(at_bound, 2),
               "peers": self.cpu_peers,
               "peers_us": round(peers, 2), "herald_us_max": round(at_bound - peers, 2), "herald_us": cpu["herald_us"]}
        # heraldd's kernel time is its system calls' (the requests' and the
        # messages' TCP, the journal's disk): what is left of the budget after
        # it is what heraldd's own code may take, beside what it took.
        if is_number(kernel := cpu.get("herald_kernel_us")):
            out.update(herald_kernel_us=kernel, code_us_max=round(out["herald_us_max"] - kernel, 2),
                       code_us=round(cpu["herald_us"] - kernel, 2))
        return out


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_positive(v):
    return is_number(v) and v > 0


E2E_PEERS = "smtp-sink, load generator and kernel threads"

TARGETS = (
    Target("http_events_per_s", "HTTP ingest, one event per request", ("http", "herald"), ">=", 50000, "events/s",
           ceiling_path=("http", "ceiling"), ceiling_what="the trivial Beast server", cpu_path=("http", "cpu"),
           cpu_per="request"),
    Target("http_ratio", "HTTP ingest ÷ the trivial Beast server", ("http", "ratio"), ">=", 0.6, ""),
    Target("ndjson_events_per_s", "NDJSON bulk ingest", ("ndjson", "herald"), ">=", 500000, "events/s",
           ceiling_path=("ndjson", "ceiling"), ceiling_what="the same server reading each body, no work",
           cpu_path=("ndjson", "cpu"), cpu_per="event"),
    Target("redis_events_per_s", "Redis Streams ingest", ("redis", "herald"), ">=", 200000, "events/s",
           ceiling_path=("redis", "ceiling"), ceiling_what="a raw XREADGROUP+XACK loop", cpu_path=("redis", "cpu"),
           cpu_per="entry", cpu_peers="redis-server, watcher and kernel threads"),
    Target("redis_ratio", "Redis Streams ingest ÷ a raw XREADGROUP+XACK loop", ("redis", "ratio"), ">=", 0.5, ""),
    Target("e2e_emails_per_s", "end to end, one event per request", ("e2e", "herald"), ">=", 20000, "e-mails/s",
           ceiling_path=("e2e", "ceiling"), ceiling_what="smtp-source into the same sink", cpu_path=("e2e", "cpu"),
           cpu_per="e-mail", cpu_peers=E2E_PEERS),
    Target("e2e_batched_emails_per_s", "end to end, NDJSON batches", ("e2e_batched", "herald"), ">=", 20000,
           "e-mails/s", ceiling_path=("e2e_batched", "ceiling"), ceiling_what="smtp-source into the same sink",
           cpu_path=("e2e_batched", "cpu"), cpu_per="e-mail", cpu_peers=E2E_PEERS),
    Target("e2e_p99_ms", "accept p99 at 5 000 events/s (open loop)", ("e2e_p99_ms",), "<=", 5, "ms",
           at=((("e2e_latency", "offered_rate"), 5000),), ceiling_path=("e2e_p99_ceiling_ms",),
           ceiling_what="write + fdatasync by group commit alone, the same load"),
    Target("rss_mb", "RSS with 100k partners × 10 contacts", ("rss_mb",), "<=", 150, "MB",
           at=((("rss", "partners"), 100000), (("rss", "contacts"), 10))),
    # The same budget for the peak while loading them (VmHWM): what a
    # container's memory limit meets first.
    Target("rss_peak_mb", "peak RSS while loading them", ("rss", "peak_mb"), "<=", 150, "MB",
           at=((("rss", "partners"), 100000), (("rss", "contacts"), 10))),
    # Not the issue's: the same budget through the reloads an operator makes
    # every day (a template edited, one partner file changed), which before
    # session 30 rebuilt every partner beside the ones serving (~224 MB).
    Target("rss_reload_peak_mb", "peak RSS after SIGHUP reloads of a template and of one partner file",
           ("rss", "reload_peak_mb"), "<=", 150, "MB",
           at=((("rss", "partners"), 100000), (("rss", "contacts"), 10))),
)


def machine_cores(run):
    """The run's core count: the machine probe's, else the "N cpus" of its machine line."""
    for described in (run.get("machine_probe"), run.get("machine")):
        if isinstance(described, dict) and isinstance(described.get("cpus"), int):
            return described["cpus"]
    m = re.search(r"(\d+) cpus", str(run.get("machine", "")))
    return int(m.group(1)) if m else None


def judge(run, soak=None):
    """The "targets" value of latest.json for a merged run; with `soak` (a
    soak.json), also whether its RSS stayed flat and its rate held."""
    judged = not run.get("smoke", False)
    cores = machine_cores(run)
    items = {}
    for t in TARGETS:
        value = t.value(run)
        items[t.key] = {"what": t.what, "op": t.op, "bound": t.bound, "unit": t.unit, "value": value,
                        "met": (t.met(value) if value is not None else False) if judged else None}
        if t.ceiling_path:
            ceiling = t.ceiling(run)
            items[t.key].update(ceiling=ceiling, ceiling_what=t.ceiling_what,
                                bound_of_ceiling=round(t.bound / ceiling, 3) if ceiling is not None else None)
        # A smoke run's CPU per unit is a second's worth: no budget from it.
        if judged and (budget := t.budget(run, cores)) is not None:
            items[t.key]["budget"] = budget
    if soak is not None:
        s = soak["soak"]
        items["soak_flat"] = {"what": f"soak ({soak.get('date', 'undated')}): RSS growth by the thirds' medians, "
                                      f"the rate held",
                              "op": "<=", "bound": soak_verdict.MAX_GROWTH, "unit": "", "value": s["rss_growth"],
                              "met": s["verdict"] == "flat"}
    return {"cores": cores, "target_cores": TARGET_CORES, "judged": judged,
            "met": sum(1 for i in items.values() if i["met"]), "of": len(items), "items": items}


def figure(value, unit):
    if value is None:
        return "not measured"
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
    return f"{text} {unit}".rstrip()


def ceiling_cell(item):
    """The ceiling column's text: the ceiling and the bound as a multiple of it, or nothing."""
    if "ceiling_what" not in item:  # a relative or memory bound: no ceiling of its own
        return ""
    if item.get("ceiling") is None:
        return "not measured"
    return f"{figure(item['ceiling'], item['unit'])} ({item['bound_of_ceiling']:g}×)"


def markdown(targets):
    """The targets table for latest.md."""
    cores = targets["cores"]
    where = f"{cores} cores" if cores is not None else "an unknown number of cores"
    if not targets["judged"]:
        head = "smoke run: figures too short to judge"
    else:
        head = f"{targets['met']} of {targets['of']} met on {where}"
        if cores != targets["target_cores"]:
            head += f" (the targets are set for {targets['target_cores']})"
    lines = [f"\n## Targets ({head})\n", "| target | bound | this run | ceiling, same run (bound ÷ it) | met |",
             "|---|---:|---:|---:|---|"]
    for item in targets["items"].values():
        verdict = {True: "yes", False: "**no**", None: "not judged"}[item["met"]]
        op = {">=": "≥", "<=": "≤"}[item["op"]]
        lines.append(f"| {item['what']} | {op} {figure(item['bound'], item['unit'])} | "
                     f"{figure(item['value'], item['unit'])} | {ceiling_cell(item)} | {verdict} |")
    lines.append("\nThe ceiling is the same run's reference for an absolute bound (the trivial server, the "
                 "do-nothing reader, the raw read loop, smtp-source, the durable-ack server): a throughput bound "
                 "near or above it asks what this machine can hardly give, whatever herald does.")
    for item in targets["items"].values():
        if b := item.get("budget"):
            lines.append(f"\nCPU budget, {item['what']}: {figure(item['bound'], item['unit'])} on {b['cores']} cores "
                         f"leaves every core together {b['machine_us_at_bound']:g} µs per {b['per']}; this run's "
                         f"{b['peers']} took {b['peers_us']:g} µs of it, so "
                         f"heraldd could spend **{b['herald_us_max']:g} µs**; it spent {b['herald_us']:g} µs."
                         + (f" Its kernel time alone (its system calls' TCP and disk work) was "
                            f"{b['herald_kernel_us']:g} µs, which leaves its own code **{b['code_us_max']:g} µs**; "
                            f"that code took {b['code_us']:g} µs." if "herald_kernel_us" in b else ""))
    return "\n".join(lines) + "\n"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"{os.path.basename(sys.argv[0])}: cannot read {path}: {e}", file=sys.stderr)
        return None


def main(argv):
    if len(argv) > 2 or any(a.startswith("-") for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[0] if argv else "bench/results/latest.json"
    soak_path = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(path), "soak.json")
    run = load(path)
    soak = load(soak_path) if len(argv) > 1 or os.path.exists(soak_path) else None
    if run is None or (len(argv) > 1 and soak is None):
        return 2
    targets = judge(run, soak)  # the current targets, also for a file written before one was added
    print(markdown(targets).lstrip("\n"), end="")
    return 0 if targets["judged"] and targets["met"] == targets["of"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
