#!/usr/bin/env python3
"""Sets two `scripts/callgrind-requests.sh --perf` profiles side by side: the CPU time per
request each proxy spent, grouped by where it went (kernel: network and system calls, log-file
appends, page faults, scheduling; user: allocator, clock reads, headroom's own functions, the
rest), and the functions that differ most.

Usage: scripts/perf-compare.py [--top N] BASE OTHER
  BASE and OTHER name profiles in the checkout's target/ (e.g. `pingora headroom`: target/perf-pingora.data
  and target/perf-pingora.requests, which the --perf run writes: the request count and the
  µs of CPU time per sample).
"""
import re
import subprocess
import sys
from pathlib import Path

# Where callgrind-requests.sh keeps the profiles: the checkout's target/, wherever this runs from.
TARGET = Path(__file__).resolve().parent.parent / "target"

GROUPS = [
    ("kernel: log-file appends", True,
     r"folio|ext4|filemap|vfs_write|generic_perform|balance_dirty|lruvec|memcg|jbd2|block_write"),
    ("kernel: page faults, returned memory", True,
     r"clear_page|page_fault|do_anonymous|handle_mm|madvise|zap_|unmap|tlb"),
    ("kernel: scheduling, wake-ups", True,
     r"finish_task_switch|schedule|irqentry_exit|futex|try_to_wake|ttwu|enqueue|dequeue|pick_next"),
    ("kernel: the rest (network, system calls)", True, r""),
    ("user: allocator", False, r"mi_|malloc|free|_int_|unlink_chunk|memalign"),
    ("user: clock reads", False, r"clock_gettime"),
    ("user: headroom's own functions", False, r"headroom::"),
    ("user: the rest (Pingora, tokio, http, libc)", False, r""),
]


def group_of(symbol):
    kernel = symbol.startswith("[k]")
    for name, in_kernel, pattern in GROUPS:
        if in_kernel == kernel and re.search(pattern, symbol):
            return name
    raise AssertionError("the last group of each side matches everything")


def profile(name):
    data = TARGET / f"perf-{name}.data"
    requests, sample_us = (TARGET / f"perf-{name}.requests").read_text().split()[:2]
    requests, sample_us = int(requests), float(sample_us)
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--no-children", "--sort", "sym", "-g", "none",
         "-q", "-n", "--stdio"],
        capture_output=True, text=True, check=True).stdout
    per_symbol = {}
    for line in out.splitlines():
        # "    11.93%          1234  [k] symbol"
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(\[.\]\s+.*)$", line)
        if m:
            symbol = re.sub(r"\s+", " ", m.group(2).strip())
            per_symbol[symbol] = per_symbol.get(symbol, 0.0) + int(m.group(1)) * sample_us / requests
    return per_symbol


def main(argv):
    top = 15
    if len(argv) >= 2 and argv[0] == "--top":
        top, argv = int(argv[1]), argv[2:]
    if len(argv) != 2:
        sys.exit(__doc__)
    base, other = argv
    a, b = profile(base), profile(other)
    groups = {name: [0.0, 0.0] for name, _, _ in GROUPS}
    for i, side in enumerate((a, b)):
        for symbol, us in side.items():
            groups[group_of(symbol)][i] += us
    print(f"µs per request          {base:>10} {other:>10}   difference")
    for name, (x, y) in groups.items():
        print(f"{name:<45} {x:7.2f} {y:7.2f} {y - x:+8.2f}")
    tx, ty = sum(a.values()), sum(b.values())
    print(f"{'total':<45} {tx:7.2f} {ty:7.2f} {ty - tx:+8.2f} ({ty / tx:.3f}×)")
    print(f"\nfunctions that differ most (µs per request, {other} − {base}):")
    symbols = sorted(set(a) | set(b), key=lambda s: -abs(b.get(s, 0) - a.get(s, 0)))
    for s in symbols[:top]:
        print(f"{b.get(s, 0) - a.get(s, 0):+7.3f}  {s[:110]}")


if __name__ == "__main__":
    main(sys.argv[1:])
