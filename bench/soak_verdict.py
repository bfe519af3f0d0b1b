"""The soak's verdict (bench/soak.sh): is RSS flat, did the rate hold?

One RSS sample says little on its own: heraldd's memory swings by several
megabytes within a minute. Finished events gather in memory until
[storage] finished_events_in_memory (16 384, ~2.5 MB) of them move to a run
on disk, checkpoints and merges build their output in memory, and the
first minute fills caches. Session 28's 10-minute soak at 2 000 events/s
sampled 27, 33, 28, 29, 32 … 44 (a checkpoint or a merge) … 35, 36 MB:
first sample to last +32 %, the two thirds' medians +16 %. So the rule
compares the median of the last third of the samples with the median of
the first third: a leak moves both the trend and the medians, a sawtooth
only single samples.

Beside it, the least-squares slope of RSS over the events accepted, in
bytes per event: what a leak would show at once (tens or hundreds of
bytes). Part of it is by design: the finished-event runs' filters and
block indexes grow with the events of the idempotency window (the gauge
herald_journal_finished_memory_bytes, sampled as `window_mb`); the
verdict reports that slope and the rest apart.
"""
import statistics

MAX_GROWTH = 0.25      # last third's median RSS over the first third's
MIN_RATE_SHARE = 0.95  # every interval's achieved rate, of the offered one


def verdict(rows, rate):
    """rows: [{"t_s", "rss_mb", "achieved"}, …] in time order; rate: offered
    events/s. Returns a dict with the figures and "verdict"."""
    third = max(1, len(rows) // 3)
    first = statistics.median(r["rss_mb"] for r in rows[:third])
    last = statistics.median(r["rss_mb"] for r in rows[-third:])
    growth = last / first - 1
    slowest = min(r["achieved"] for r in rows)
    # Memory against events accepted so far (each interval at its achieved rate).
    events, accepted = [], 0.0
    previous_t = 0
    for r in rows:
        accepted += r["achieved"] * (r["t_s"] - previous_t)
        previous_t = r["t_s"]
        events.append(accepted)
    window = [r.get("window_mb", 0.0) for r in rows]
    rss_slope = bytes_per_event(events, [r["rss_mb"] for r in rows])
    window_slope = bytes_per_event(events, window)
    flat = growth <= MAX_GROWTH and slowest >= MIN_RATE_SHARE * rate
    return {"rss_first_third_mb": first, "rss_last_third_mb": last, "rss_growth": round(growth, 3),
            "rss_bytes_per_event": round(rss_slope, 2), "window_bytes_per_event": round(window_slope, 2),
            "rest_bytes_per_event": round(rss_slope - window_slope, 2), "slowest": slowest,
            "verdict": "flat" if flat else "NOT flat"}


def bytes_per_event(events, mb):
    """Least-squares slope of `mb` (megabytes) over `events`, in bytes per event."""
    if len(events) < 2:
        return 0.0
    mean_e, mean_m = statistics.fmean(events), statistics.fmean(mb)
    var = sum((e - mean_e) ** 2 for e in events)
    if var == 0:
        return 0.0
    return sum((e - mean_e) * (m - mean_m) for e, m in zip(events, mb)) / var * 1024 * 1024
