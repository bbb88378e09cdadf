#!/usr/bin/env python3
"""Watches a running `creditdesk serve` during a load run (docs/bench.sh).

burst.py METRICS_URL PID OUT: polls the Prometheus backlog gauge and the
process's resident memory every 20 ms until OUT/stop exists and the backlog
is back to 0, then prints one line: the largest backlog seen, when it last
reached 0 (seconds since start), peak RSS in MiB, and apart the peaks of
its anonymous part (the Go heap and runtime) and its file part (pages of
the database bbolt's memory map has read). Loopback only.
"""
import os, sys, time, urllib.request

url, pid, out = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.monotonic()
max_backlog, peak_rss, peak_anon, peak_file, stopped_at, zero_at = 0, 0, 0, 0, None, None
deadline = start + 600
while time.monotonic() < deadline:
    try:
        body = urllib.request.urlopen(url, timeout=2).read().decode()
        backlog = 0
        for line in body.splitlines():
            if line.startswith("creditdesk_backlog_events"):
                backlog = int(float(line.split()[-1]))
        max_backlog = max(max_backlog, backlog)
    except Exception:
        backlog = -1
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    peak_rss = max(peak_rss, int(line.split()[1]))
                elif line.startswith("RssAnon:"):
                    peak_anon = max(peak_anon, int(line.split()[1]))
                elif line.startswith("RssFile:"):
                    peak_file = max(peak_file, int(line.split()[1]))
    except OSError:
        break
    now = time.monotonic() - start
    if stopped_at is None and os.path.exists(os.path.join(out, "stop")):
        stopped_at = now
    if stopped_at is not None and backlog == 0:
        zero_at = now
        break
    time.sleep(0.02)
print(f"max_backlog={max_backlog} sender_done={stopped_at or 0:.2f}s backlog_zero={zero_at or -1:.2f}s peak_rss_mib={peak_rss/1024:.0f} (anon {peak_anon/1024:.0f}, file {peak_file/1024:.0f})")
