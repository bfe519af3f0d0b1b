#!/usr/bin/env python3
"""CPU time a process spent per unit of work between two snapshots.

    bench/cpu_usage.py BEFORE AFTER UNITS

BEFORE and AFTER are files written by cpu_snapshot (bench/lib.sh): the
machine's /proc/stat "cpu" line, the process's own user+sys ticks (threads
that exited included) and its sys ticks alone, each live thread's user+sys
ticks, by name. Prints one JSON object:

    {"us_per_unit": 42.6,        the process's user+sys µs per unit
     "kernel_us_per_unit": 18.0, its sys µs per unit: its system calls' work
                                 in the kernel (TCP, the disk), the rest its
                                 own code's (null from a snapshot without it)
     "cores": 0.93,              its CPU time ÷ wall time
     "threads": {"io-1": 35.1, ...},  µs per unit by thread name (threads of
                                 one name summed; io_uring workers, which come
                                 and go, as "iou-wrk"; the first thread as
                                 "main"; "exited" is what threads gone by AFTER
                                 spent)
     "machine_idle": 0.14,       idle + iowait share of all cores over the run
     "machine_us_per_unit": 61.0,  every core's busy time (user, nice, system,
                                 irq, softirq: every process's and the kernel's,
                                 steal left out) per unit
     "disk_bytes_per_unit": 1180.5}  bytes the process sent toward its disk
                                 per unit (/proc/PID/io write_bytes: pages it
                                 dirtied; null when /proc/PID/io was unreadable)

Why CPU per unit beside units/s: on a shared machine the load generator, the
peers and other tenants take cores from the server, which moves events/s
from run to run; the CPU the server itself spent on each event moves less,
and the per-thread split says where it went. Bytes to disk per unit say
when the disk, not the CPU, is what bounds a durable server. The machine's
busy time per unit is what the whole scenario cost (the server, its peers,
the load generator, the kernel's own threads): what is left of it after the
server is the share a server doing no work would still have to leave them.
The server's kernel time beside its total says how much of its CPU its own
code spends, and how much the system calls it cannot do without: a budget
(bench/targets.py) less that kernel time is what its code may take.
"""
import json
import os
import sys


def read(path):
    snap = {"machine": None, "pid": None, "process": 0, "kernel": None, "threads": {}, "disk": None}
    with open(path) as f:
        for line in f:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "machine":
                snap["machine"] = [int(x) for x in rest.split()]
            elif kind == "process":  # PID TICKS [SYS_TICKS]
                pid, ticks, *kernel = rest.split(" ")
                snap["pid"], snap["process"] = pid, int(ticks)
                snap["kernel"] = int(kernel[0]) if kernel else None
            elif kind == "disk":  # BYTES, or nothing when /proc/PID/io was unreadable
                snap["disk"] = int(rest) if rest.strip() else None
            elif kind == "thread":  # TID NAME TICKS
                tid, name, ticks = rest.split(" ")
                snap["threads"][tid] = (name, int(ticks))
    return snap


def cpu_line(unit, herald, ceiling=None, ceiling_name="the ceiling"):
    """A Markdown line: heraldd's CPU per unit by thread, beside a ceiling's."""
    top = ", ".join(f"{name} {us:g}" for name, us in list(herald["threads"].items())[:6])
    kernel = herald.get("kernel_us_per_unit")
    line = (f"\nCPU per {unit}: heraldd **{herald['us_per_unit']:g} µs**"
            + (f", {kernel:g} of it in the kernel" if kernel is not None else "")
            + f" ({top}; {herald['cores']:g} cores busy, "
            f"machine {herald['machine_idle']:.0%} idle")
    if herald.get("disk_bytes_per_unit") is not None:
        line += f"; {herald['disk_bytes_per_unit']:,.0f} bytes to disk per {unit.split(',')[0]}"
    line += ")"
    if ceiling:
        line += f"; {ceiling_name} {ceiling['us_per_unit']:g} µs ({ceiling['cores']:g} cores)"
        if herald["us_per_unit"] > 0:  # a smoke run may not last one clock tick
            line += f": ratio **{ceiling['us_per_unit'] / herald['us_per_unit']:.2f}**"
    return line


def machine_note(machine_us, others_us, others_what):
    """cpu_line's tail for every core's busy time per unit and the rest of it
    after heraldd (and any peer already named): "" when not measured."""
    if machine_us is None:
        return ""
    return f"; all cores {machine_us:g} µs, the rest of it ({others_what}) {others_us:g} µs"


def cpu_json(herald, ceiling=None):
    """The stable JSON form of cpu_line: µs per unit, cores, idle, ratio;
    every core's busy time per unit and the rest of it after heraldd's (the
    load generator, the kernel's threads, any peer), when measured."""
    machine = herald.get("machine_us_per_unit")
    out = {"herald_us": herald["us_per_unit"], "herald_kernel_us": herald.get("kernel_us_per_unit"),
           "herald_cores": herald["cores"],
           "herald_threads": herald["threads"], "machine_idle": herald["machine_idle"],
           "herald_disk_bytes": herald.get("disk_bytes_per_unit"), "machine_us": machine,
           "others_us": round(max(machine - herald["us_per_unit"], 0.0), 2) if machine is not None else None}
    if ceiling:
        out.update({"ceiling_us": ceiling["us_per_unit"], "ceiling_cores": ceiling["cores"],
                    "ratio": round(ceiling["us_per_unit"] / herald["us_per_unit"], 3)
                    if herald["us_per_unit"] > 0 else None})
    return out


def main():
    before, after, units = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
    if units <= 0:
        sys.exit("cpu_usage.py: no units of work")
    print(json.dumps(usage(before, after, units)))


def usage(before, after, units):
    hz = os.sysconf("SC_CLK_TCK")
    per_unit = lambda ticks: round(ticks / hz / units * 1e6, 2)
    machine = [b - a for a, b in zip(before["machine"], after["machine"])]
    total = sum(machine)
    wall = total / hz / os.cpu_count()  # every core's ticks: the run's length
    process = after["process"] - before["process"]
    by_name = {}
    for tid, (name, ticks) in after["threads"].items():
        spent = ticks - before["threads"].get(tid, (name, 0))[1]
        if tid == after["pid"]:
            name = "main"  # it carries the process's name; heraldd's delivers
        by_name[name] = by_name.get(name, 0) + spent
    # The process's count keeps what its exited threads spent.
    by_name["exited"] = process - sum(by_name.values())
    threads = {name: per_unit(ticks) for name, ticks in by_name.items() if ticks > 0}
    return {
        "us_per_unit": per_unit(process),
        "kernel_us_per_unit": per_unit(after["kernel"] - before["kernel"])
        if before["kernel"] is not None and after["kernel"] is not None else None,
        "cores": round(process / hz / wall, 2) if wall > 0 else 0.0,
        "threads": dict(sorted(threads.items(), key=lambda kv: -kv[1])),
        # fields 4 and 5 of /proc/stat's cpu line: idle and iowait
        "machine_idle": round((machine[3] + machine[4]) / total, 3) if total > 0 else 0.0,
        # fields 1-3, 6 and 7: user, nice, system, irq, softirq (guest time is
        # inside user already; steal is the host's, not this machine's work)
        "machine_us_per_unit": per_unit(sum(machine[i] for i in (0, 1, 2, 5, 6) if i < len(machine))),
        "disk_bytes_per_unit": round((after["disk"] - before["disk"]) / units, 1)
        if before["disk"] is not None and after["disk"] is not None else None,
    }


if __name__ == "__main__":
    main()
