#!/usr/bin/env python3
"""Prints the coding benchmark figures as ratios against baselines measured in
the same run (this machine is shared and noisy: absolute figures drift, ratios
much less).

    build/release/bench/coding_bench --benchmark_format=json > coding.json
    python3 bench/summarize_coding.py coding.json
"""
import json
import sys


def main(path):
    with open(path) as f:
        runs = {b["name"].replace("/real_time", ""): b for b in json.load(f)["benchmarks"]}
    # Runs from before the gap argument existed had shards 2^n bytes apart.
    for name in list(runs):
        if name.startswith("BM_RsEncode/") and "/gap:" not in name:
            runs[name + "/gap:0"] = runs.pop(name)

    def ms(name):
        return runs[name]["real_time"] if name in runs else float("nan")

    def gbs(name):
        return runs[name].get("bytes_per_second", float("nan")) / 1e9 if name in runs else float("nan")

    print("| what | time (ms) | GB/s | vs baseline |")
    print("|---|---|---|---|")
    memcpy = gbs("BM_Memcpy/256")
    print(f"| memcpy 256 MiB (baseline) | {ms('BM_Memcpy/256'):.1f} | {memcpy:.2f} | 1.00 |")
    print(f"| BLAKE3 256 MiB | {ms('BM_Blake3/256'):.1f} | {gbs('BM_Blake3/256'):.2f} | {gbs('BM_Blake3/256') / memcpy:.2f} of memcpy |")
    for k, m in ((16, 8), (48, 24)):
        for size in (64, 256):
            for stripe in (0, 16384):
                for gap in (0, 4160):
                    n = f"BM_RsEncode/MiB:{size}/k:{k}/m:{m}/stripe:{stripe}/gap:{gap}"
                    if n not in runs:
                        continue
                    label = "whole shards" if stripe == 0 else "16 KiB stripes"
                    label += ", shards 2^n apart" if gap == 0 else ", shards staggered"
                    print(f"| RS {k}+{m} encode {size} MiB, {label} | {ms(n):.1f} | {gbs(n):.2f} | {gbs(n) / memcpy:.2f} of memcpy |")
        n = f"BM_RsReconstruct/MiB:256/k:{k}/m:{m}"
        print(f"| RS {k}+{m} rebuild {m} lost data shards, 256 MiB | {ms(n):.1f} | {gbs(n):.2f} | {gbs(n) / memcpy:.2f} of memcpy |")
    print()
    print("EncodeTessera in memory (coding + BLAKE3 of every fragment) against the sum of")
    print("coding alone and hashing alone, all measured in this run (target: at most 1.25):")
    print()
    print("| code | stripe | EncodeTessera (ms) | coding + hashing (ms) | ratio |")
    print("|---|---|---|---|---|")
    for k, m in ((16, 8), (48, 24)):
        base = ms(f"BM_RsEncode/MiB:256/k:{k}/m:{m}/stripe:16384/gap:0") + ms(f"BM_HashFragments/MiB:256/k:{k}/m:{m}")
        for stripe in (16384, 65536, 262144):
            n = f"BM_EncodeTesseraMemory/MiB:256/k:{k}/m:{m}/stripe:{stripe}"
            if n in runs:
                print(f"| {k}+{m} | {stripe // 1024} KiB | {ms(n):.1f} | {base:.1f} | {ms(n) / base:.2f} |")
    print()
    print("Through files (256 MiB payload, fragments fsynced), against writing 1.5x the")
    print("payload with fsync in the same run:")
    print()
    print("| what | time (ms) | vs write+fsync |")
    print("|---|---|---|")
    b = ms("BM_WriteFsyncBaseline/256/iterations:3")
    for n, label in (("BM_WriteFsyncBaseline/256/iterations:3", "write + fsync 384 MiB (baseline)"),
                     ("BM_EncodeTesseraFiles/256/iterations:3", "EncodeTessera file -> 24 files"),
                     ("BM_DecodeTesseraFiles/256/iterations:3", "DecodeTessera 16 files (8 data lost) -> file")):
        print(f"| {label} | {ms(n):.1f} | {ms(n) / b:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "coding.json")
