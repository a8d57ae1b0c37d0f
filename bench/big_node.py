#!/usr/bin/env python3
"""The big-node benchmark: what a node holding 1,000, 10,000 and 100,000
tesseras costs, and how each figure grows from size to size.

For each size, in one run:
  1. `big_node fill` makes a data dir (signed plans, fragments that hash right,
     ledger rows for as many peers as a real network would give, placements of
     the node's own tesseras) through the real stores;
  2. tesd is started on it: time until the local API answers GET /v1/node
     (what `tes node` asks), resident memory at idle;
  3. tesd is SIGKILLed and started again: time until it answers;
  4. `tes repair` (one maintenance pass, the node alone): time, peak RSS;
  5. tesd stops; `big_node probe` measures in process: index and ledger query
     latency, audit answers per second and bytes read per answer, scrub
     throughput against plain read(2) of the same files, and one maintenance
     pass over a real DHT of the node and a few peers (time, DHT messages,
     bytes read, peak RSS);
  6. data dir overhead: bytes on disk beyond the fragments' bytes.
Then (not with --check) 400 tesseras of Medium fragments (256-320 KiB, 16-20
proof leaves each): scrub against plain read, three times, and bytes read per
audit answer, to set beside the small fragments' figure.
Then a table of every figure with its growth from size to size, and the
figures as JSON on the last line. docs/PERFORMANCE.md has the method and a run.

  bench/big_node.py [--build-dir build/release] [--sizes 1000,10000,100000]
                    [--dir DIR] [--keep] [--check]

--check asserts what must hold at any size (the suite runs it at 1,000 with
the debug build): the filled data dir is valid, no directory in it holds more
than 300 + n/200 entries (the fragments are sharded by tessera prefix), tesd
answers within a second of start and of restart after SIGKILL, an audit reads no whole fragment and
its answers verify, and every query answers in well under a millisecond.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Where the processes listen (one /24 each, away from the other tests').
TESD_NET = 141
PROBE_NET = 142
DHT_PEERS = 3


def peers_for(n):
    """Ledger peers a node holding n tesseras would have: 1,000 to 5,000."""
    return max(1000, min(5000, n // 20))


class Failure(Exception):
    pass


def run_json(cmd, timeout):
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {out.returncode}: {out.stderr.strip()[-2000:]}")
    text = out.stdout.strip()
    try:
        return json.loads(text)  # one document (tes --json)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])  # big_node: JSON on the last line


def api_node(sock_path):
    """GET /v1/node over the local API socket; the JSON body, or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sock_path)
            s.sendall(b"GET /v1/node HTTP/1.1\r\nHost: tesd\r\nConnection: close\r\n"
                      b"Content-Length: 0\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None
    return json.loads(body)


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


class Tesd:
    def __init__(self, build, data_dir, config, log):
        self.build, self.data_dir, self.config, self.log = build, data_dir, config, log
        self.proc = None

    def start(self, timeout=60.0):
        """Starts tesd; returns seconds until GET /v1/node answered."""
        sock = os.path.join(self.data_dir, "tesd.sock")
        log = open(self.log, "a")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "src/daemon/tesd"), "--data-dir", self.data_dir,
             "--listen", f"127.0.{TESD_NET}.1:0", "--config", self.config, "--log-level", "warn"],
            stdout=log, stderr=log)
        # Poll the API as `tes node` would, every millisecond: this measures
        # how soon it answers.
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise Failure(f"tesd exited with {self.proc.returncode}; see {self.log}")
            if os.path.exists(sock) and api_node(sock) is not None:
                return time.monotonic() - t0
            time.sleep(0.001)
        raise Failure(f"tesd did not answer within {timeout} s; see {self.log}")

    def tes(self, *args, timeout=3600):
        cmd = [os.path.join(self.build, "src/cli/tes"), "--data-dir", self.data_dir, "--json"]
        return run_json(cmd + list(args), timeout)

    def kill(self, sig):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.proc = None


def disk_usage(path):
    """(allocated, apparent) bytes under path."""
    allocated = apparent = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            allocated += st.st_blocks * 512
            apparent += st.st_size
    return allocated, apparent


def largest_directory(path):
    """(entries, path) of the directory under path that holds the most entries."""
    best = (0, path)
    for root, dirs, files in os.walk(path):
        best = max(best, (len(dirs) + len(files), root))
    return best


def max_directory_entries(n):
    """What --check allows in one directory of a data dir holding n tesseras:
    fragments/ has 256 prefix directories and its own 3 entries, a prefix
    directory about n/256 tessera directories (the flat layout had n in one)."""
    return 300 + n // 200


def tesd_figures(tesd, r, args):
    r["ready_after_start_s"] = tesd.start()
    node = tesd.tes("node")
    if args.check and node.get("scrub", {}).get("running") is not True:
        raise Failure(f"the scrub does not run: {node}")
    time.sleep(0.5 if args.check else 2)  # idle: the scrub runs, nothing else
    r["idle_rss_kib"] = proc_kib(tesd.proc.pid, "VmRSS:")
    r["idle_peak_rss_kib"] = proc_kib(tesd.proc.pid, "VmHWM:")
    tesd.kill(signal.SIGKILL)
    r["ready_after_sigkill_s"] = tesd.start()
    with open(f"/proc/{tesd.proc.pid}/clear_refs", "w") as f:
        f.write("5")  # peak RSS from here on: the pass
    t0 = time.monotonic()
    repaired = tesd.tes("repair")
    r["repair_seconds"] = time.monotonic() - t0
    r["repair_peak_rss_kib"] = proc_kib(tesd.proc.pid, "VmHWM:")
    r["repair_tesseras"] = len(repaired["tesseras"])
    tesd.kill(signal.SIGTERM)


def measure(args, n, base):
    data = os.path.join(base, f"n{n}")
    build = args.build_dir
    big_node = os.path.join(build, "bench/big_node")
    config = os.path.join(base, "tesd.toml")
    with open(config, "w") as f:
        # No background pass while measuring (`tes repair` runs one).
        f.write("[replication]\nrepair_interval_secs = 31536000\nrepair_jitter_secs = 0\n"
                "min_free_space_bytes = 0\n")
    r = {"tesseras": n, "ledger_peers": peers_for(n)}
    print(f"== {n} tesseras: filling", file=sys.stderr, flush=True)
    fill = run_json([big_node, "fill", "--data-dir", data, "--tesseras", str(n),
                     "--peers", str(peers_for(n))], timeout=7200)
    r["fill_seconds"] = fill["seconds"]
    r["fragments"] = fill["fragments"]
    r["fragment_bytes"] = fill["fragment_bytes"]
    r["largest_dir_entries"], largest = largest_directory(data)
    if args.check and r["largest_dir_entries"] > max_directory_entries(n):
        raise Failure(f"{largest} holds {r['largest_dir_entries']} entries "
                      f"(at most {max_directory_entries(n)} at {n} tesseras)")
    if args.check:
        check = run_json([big_node, "check", "--data-dir", data], timeout=600)
        if not check["reconcile_clean"] or check["sample_failed"] or check["fragments"] != fill["fragments"]:
            raise Failure(f"the filled data dir is not valid: {check}")

    print(f"== {n}: start, SIGKILL, restart, repair", file=sys.stderr, flush=True)
    tesd = Tesd(build, data, config, os.path.join(base, f"tesd-{n}.log"))
    try:
        tesd_figures(tesd, r, args)
    finally:
        if tesd.proc is not None:
            tesd.kill(signal.SIGKILL)

    print(f"== {n}: probe", file=sys.stderr, flush=True)
    probe = run_json([big_node, "probe", "--data-dir", data, "--audits", str(args.audits),
                      "--queries", str(args.queries), "--dht-peers", str(DHT_PEERS),
                      "--net", str(PROBE_NET)], timeout=7200)
    r["probe"] = probe
    allocated, apparent = disk_usage(data)
    r["disk_allocated_bytes"] = allocated
    r["disk_apparent_bytes"] = apparent
    r["db_bytes"] = disk_usage(os.path.join(data, "db"))[1]
    if args.check:
        check_figures(r)
    if not args.keep:
        shutil.rmtree(data)
    return r


def check_figures(r):
    problems = []
    for what in ("ready_after_start_s", "ready_after_sigkill_s"):
        if r[what] >= 1.0:
            problems.append(f"{what} = {r[what]:.3f} s (must answer within a second)")
    a = r["probe"]["audits"]
    if a["whole_fragment_reads"] != 0:
        problems.append(f"audits read {a['whole_fragment_reads']} fragments whole")
    if a["verified_valid"] != min(20, a["answers"]):
        problems.append(f"only {a['verified_valid']} sampled answers verified")
    if a["bytes_read_per_answer"] > 2 * (16384 + 32 * 16):
        problems.append(f"an audit read {a['bytes_read_per_answer']:.0f} bytes")
    for q, lat in r["probe"]["queries"].items():
        if lat and lat["median_us"] > 1000:
            problems.append(f"query {q}: median {lat['median_us']:.0f} us")
    if r["probe"]["pass"]["checked"] != r["tesseras"]:
        problems.append(f"the forced pass checked {r['probe']['pass']['checked']} tesseras")
    if not r["probe"]["scrub"]["reconcile_clean"]:
        problems.append("Reconcile found something to do in a filled data dir")
    if problems:
        raise Failure("; ".join(problems))


# Figure name, how to read it from a result, unit, what growth is the goal.
FIGURES = [
    ("fill (s)", lambda r: r["fill_seconds"], "linear"),
    ("ready after start (s)", lambda r: r["ready_after_start_s"], "flat"),
    ("ready after SIGKILL (s)", lambda r: r["ready_after_sigkill_s"], "flat"),
    ("RSS at idle (MiB)", lambda r: r["idle_rss_kib"] / 1024, "flat"),
    ("peak RSS, start + idle (MiB)", lambda r: r["idle_peak_rss_kib"] / 1024, "flat"),
    ("`tes repair` (forced pass), node alone (s)", lambda r: r["repair_seconds"], "linear"),
    ("peak RSS during `tes repair` (MiB)", lambda r: r["repair_peak_rss_kib"] / 1024, "flat"),
    ("forced pass, 3 DHT peers (s)", lambda r: r["probe"]["pass"]["seconds"], "linear"),
    ("DHT messages per forced pass", lambda r: r["probe"]["pass"]["dht_messages"], "linear"),
    ("bytes read per forced pass / bytes held",
     lambda r: r["probe"]["pass"]["bytes_read"] / max(1, r["probe"]["bytes_held"]), "flat"),
    ("peak RSS of the forced pass, in process (MiB)",
     lambda r: r["probe"]["pass"]["peak_rss_kib"] / 1024, "flat"),
    ("next background pass (what is due) (s)", lambda r: r["probe"]["pass_due"]["seconds"], "linear"),
    ("DHT messages per background pass", lambda r: r["probe"]["pass_due"]["dht_messages"], "linear"),
    ("bytes read per background pass / bytes held",
     lambda r: r["probe"]["pass_due"]["bytes_read"] / max(1, r["probe"]["bytes_held"]), "flat"),
    ("audit answers per second", lambda r: r["probe"]["audits"]["answers_per_second"], "flat"),
    ("bytes read per audit answer", lambda r: r["probe"]["audits"]["bytes_read_per_answer"], "flat"),
    ("scrub (MB/s)", lambda r: r["probe"]["scrub"]["mb_per_s"], "flat"),
    ("plain read of the same files (MB/s)", lambda r: r["probe"]["scrub"]["plain_read_mb_per_s"],
     "flat"),
    ("scrub / plain read", lambda r: r["probe"]["scrub"]["scrub_over_read"], "flat"),
    ("Reconcile walk (s)", lambda r: r["probe"]["scrub"]["reconcile_seconds"], "linear"),
    ("largest directory (entries)", lambda r: r["largest_dir_entries"], "sublinear"),
]
# The queries `big_node probe` times (its "queries" object).
QUERIES = ["fragment_get", "fragments_of_tessera", "fragments_page_100", "total_bytes",
           "plan_get", "holders_get", "ledger_balance", "ledger_best_peers_20"]
for q in QUERIES:
    FIGURES.append((f"{q} median (us)",
                    lambda r, q=q: (r["probe"]["queries"].get(q) or {}).get("median_us", 0), "flat"))
FIGURES += [
    ("fragment bytes (MB)", lambda r: r["fragment_bytes"] / 1e6, "linear"),
    ("data dir on disk beyond fragment bytes (MB)",
     lambda r: (r["disk_allocated_bytes"] - r["fragment_bytes"]) / 1e6, "linear"),
    ("overhead / fragment bytes",
     lambda r: (r["disk_allocated_bytes"] - r["fragment_bytes"]) / r["fragment_bytes"], "flat"),
    ("database (MB)", lambda r: r["db_bytes"] / 1e6, "linear"),
]


def medium_scrub(args, base):
    """Scrub against plain read for fragments of 256-320 KiB (Medium tier), where
    hashing rather than per-file work sets the pace."""
    data = os.path.join(base, "medium")
    big_node = os.path.join(args.build_dir, "bench/big_node")
    run_json([big_node, "fill", "--data-dir", data, "--tesseras", "400", "--peers", "100",
              "--medium-every", "1", "--own-every", "0"], timeout=600)
    runs = [run_json([big_node, "scrub", "--data-dir", data], timeout=600) for _ in range(3)]
    # Audits of the same fragments (16-20 leaves each, against 1 for most of
    # the sizes' fragments): bytes read per answer should not follow the size.
    probe = run_json([big_node, "probe", "--data-dir", data, "--audits", str(args.audits),
                      "--queries", "100", "--dht-peers", str(DHT_PEERS), "--net", str(PROBE_NET)],
                     timeout=1800)
    shutil.rmtree(data)
    return runs, probe["audits"], probe["bytes_held"] / max(1, probe["fragments"])


def table(results):
    sizes = [r["tesseras"] for r in results]
    head = "| figure | goal | " + " | ".join(f"{s:,}" for s in sizes)
    head += "".join(f" | ×{sizes[i + 1] // sizes[i]} size" for i in range(len(sizes) - 1)) + " |"
    lines = [head, "|" + "---|" * (2 + len(sizes) + len(sizes) - 1)]
    for name, get, goal in FIGURES:
        vals = [get(r) for r in results]
        cells = [f"{v:.3g}" if isinstance(v, float) else f"{v:,}" for v in vals]
        growth = [f"{vals[i + 1] / vals[i]:.2f}" if vals[i] else "-" for i in range(len(vals) - 1)]
        lines.append(f"| {name} | {goal} | " + " | ".join(cells + growth) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--dir", default=None, help="where the data dirs go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the data dirs")
    p.add_argument("--check", action="store_true", help="assert what must hold at any size")
    p.add_argument("--audits", type=int, default=None)
    p.add_argument("--queries", type=int, default=None)
    args = p.parse_args()
    args.audits = args.audits or (200 if args.check else 5000)
    args.queries = args.queries or (200 if args.check else 5000)
    for tool in ("src/daemon/tesd", "src/cli/tes", "bench/big_node"):
        if not os.access(os.path.join(args.build_dir, tool), os.X_OK):
            print(f"missing {tool} in {args.build_dir}: scripts/build.sh release tesd tes big_node",
                  file=sys.stderr)
            return 2
    base = args.dir or tempfile.mkdtemp(prefix="tesseras-bignode-")
    os.makedirs(base, exist_ok=True)
    results = []
    medium = []
    medium_audits = None
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            results.append(measure(args, n, base))
        if not args.check:
            medium, medium_audits, medium_size = medium_scrub(args, base)
    except Failure as e:
        print(f"big_node: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    print(table(results))
    for m in medium:
        print(f"scrub of 400 Medium fragments ({m['bytes'] / 1e6:.0f} MB): {m['mb_per_s']:.0f} MB/s, "
              f"plain read {m['plain_read_mb_per_s']:.0f} MB/s, ratio {m['scrub_over_read']:.2f}")
    if medium_audits:
        small = results[-1]
        print(f"audits of Medium fragments (mean {medium_size / 1024:.0f} KiB): "
              f"{medium_audits['bytes_read_per_answer']:.0f} bytes read per answer, "
              f"{medium_audits['answers_per_second']:.0f} answers/s, "
              f"{medium_audits['whole_fragment_reads']} whole reads; at {small['tesseras']:,} "
              f"tesseras (mean {small['fragment_bytes'] / max(1, small['fragments']) / 1024:.1f} KiB): "
              f"{small['probe']['audits']['bytes_read_per_answer']:.0f}")
    print(json.dumps({"sizes": results, "medium_scrub": medium, "medium_audits": medium_audits}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
