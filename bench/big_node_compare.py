#!/usr/bin/env python3
"""Peak RSS (and time) of `tes repair` for two builds on the same data dirs.

For each size: `big_node fill` (of the baseline build: its schema is the older
one, and the other build migrates it on open) makes one data dir; each build
then gets its own copy and runs steps 2-4 of bench/big_node.py on it (start,
idle, SIGKILL, restart, `tes repair` with its peak RSS from clear_refs), the
baseline first. Only those figures: the probe and disk steps are
bench/big_node.py's.

  bench/big_node_compare.py --baseline-build-dir B --build-dir A
                            [--sizes 1000,10000] [--dir DIR]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import big_node  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--baseline-build-dir", required=True)
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--dir", default=None, help="where the data dirs go (default: a temp dir)")
    args = p.parse_args()
    args.check = False
    builds = [("baseline", args.baseline_build_dir), ("build", args.build_dir)]
    for _, b in builds:
        for tool in ("src/daemon/tesd", "src/cli/tes", "bench/big_node"):
            if not os.access(os.path.join(b, tool), os.X_OK):
                print(f"missing {tool} in {b}", file=sys.stderr)
                return 2
    base = args.dir or tempfile.mkdtemp(prefix="tesseras-bignode-compare-")
    os.makedirs(base, exist_ok=True)
    config = os.path.join(base, "tesd.toml")
    with open(config, "w") as f:
        f.write("[replication]\nrepair_interval_secs = 31536000\nrepair_jitter_secs = 0\n"
                "min_free_space_bytes = 0\n")
    results = []
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            filled = os.path.join(base, f"n{n}")
            print(f"== {n} tesseras: filling", file=sys.stderr, flush=True)
            big_node.run_json([os.path.join(args.baseline_build_dir, "bench/big_node"), "fill",
                               "--data-dir", filled, "--tesseras", str(n),
                               "--peers", str(big_node.peers_for(n))], timeout=7200)
            row = {"tesseras": n}
            for name, build in builds:
                data = f"{filled}-{name}"
                subprocess.run(["cp", "-a", filled, data], check=True)
                print(f"== {n}: {name} ({build})", file=sys.stderr, flush=True)
                r = {}
                tesd = big_node.Tesd(build, data, config, os.path.join(base, f"tesd-{n}-{name}.log"))
                try:
                    big_node.tesd_figures(tesd, r, args)
                finally:
                    if tesd.proc is not None:
                        tesd.kill(signal.SIGKILL)
                row[name] = r
                shutil.rmtree(data)
            shutil.rmtree(filled)
            results.append(row)
            b, a = row["baseline"], row["build"]
            print(f"{n}: peak RSS during tes repair {b['repair_peak_rss_kib'] / 1024:.1f} -> "
                  f"{a['repair_peak_rss_kib'] / 1024:.1f} MiB; repair {b['repair_seconds']:.2f} -> "
                  f"{a['repair_seconds']:.2f} s; idle RSS {b['idle_rss_kib'] / 1024:.1f} -> "
                  f"{a['idle_rss_kib'] / 1024:.1f} MiB", flush=True)
    except big_node.Failure as e:
        print(f"big_node_compare: {e}", file=sys.stderr)
        return 1
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
