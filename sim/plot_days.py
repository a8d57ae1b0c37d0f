#!/usr/bin/env python3
"""Draws the per-day series of `tesseras-sim --csv DIR` as one SVG file.

    sim/plot_days.py DIR [OUT.svg]      (OUT defaults to DIR/days.svg)

Two panels share the day axis: the margin (the lowest margin an acting
maintainer assessed that day, and the lowest ground-truth margin at the end
of the day) and the traffic (repair, audit and oracle bytes per day). Every
DIR/<policy>-days.csv is drawn, one colour per policy. Only the Python
standard library is used: the SVG is written by hand.
"""
import csv
import glob
import os
import sys

WIDTH, PANEL_H, MARGIN_L, MARGIN_R, MARGIN_T, GAP = 900, 260, 80, 160, 30, 60
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
MIB = 1024.0 * 1024.0


def read_series(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"day", "min_margin_seen", "min_durable_margin", "repair_bytes", "audit_bytes",
            "oracle_bytes"}
    if rows and not need.issubset(rows[0].keys()):
        raise ValueError(f"{path}: missing columns {sorted(need - set(rows[0].keys()))}")
    return rows


def nice_max(v):
    if v <= 0:
        return 1.0
    step = 10 ** len(str(int(v))) / 10.0
    for m in (1, 2, 2.5, 5, 10):
        if m * step >= v:
            return m * step
    return 10 * step


def polyline(points, colour, dash=None):
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<polyline fill="none" stroke="{colour}" stroke-width="1.3"{extra} '
            f'points="{pts}"/>')


def panel(out, top, title, y_label, lines, days_max, y_min, y_max):
    plot_w = WIDTH - MARGIN_L - MARGIN_R
    x_of = lambda d: MARGIN_L + plot_w * (d / days_max if days_max else 0)
    y_of = lambda v: top + PANEL_H - PANEL_H * ((v - y_min) / (y_max - y_min))
    out.append(f'<text x="{MARGIN_L}" y="{top - 8}" font-weight="bold">{title}</text>')
    out.append(f'<rect x="{MARGIN_L}" y="{top}" width="{plot_w}" height="{PANEL_H}" '
               'fill="none" stroke="#888"/>')
    for i in range(5):
        v = y_min + (y_max - y_min) * i / 4
        y = y_of(v)
        out.append(f'<line x1="{MARGIN_L}" y1="{y:.1f}" x2="{MARGIN_L + plot_w}" '
                   f'y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    for i in range(6):
        d = days_max * i / 5
        out.append(f'<text x="{x_of(d):.1f}" y="{top + PANEL_H + 16}" '
                   f'text-anchor="middle">{d:.0f}</text>')
    out.append(f'<text x="20" y="{top + PANEL_H / 2}" transform="rotate(-90 20 '
               f'{top + PANEL_H / 2})" text-anchor="middle">{y_label}</text>')
    legend_y = top + 10
    for label, colour, dash, pts in lines:
        clipped = [(x_of(d), y_of(min(max(v, y_min), y_max))) for d, v in pts]
        if clipped:
            out.append(polyline(clipped, colour, dash))
        lx = WIDTH - MARGIN_R + 10
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 20}" y2="{legend_y}" '
                   f'stroke="{colour}" stroke-width="2"{extra}/>')
        out.append(f'<text x="{lx + 26}" y="{legend_y + 4}">{label}</text>')
        legend_y += 16


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    directory = argv[1]
    target = argv[2] if len(argv) == 3 else os.path.join(directory, "days.svg")
    paths = sorted(glob.glob(os.path.join(directory, "*-days.csv")))
    if not paths:
        print(f"plot_days.py: no *-days.csv in {directory}", file=sys.stderr)
        return 1
    runs = []
    for p in paths:
        try:
            rows = read_series(p)
        except (OSError, ValueError) as e:
            print(f"plot_days.py: {e}", file=sys.stderr)
            return 1
        runs.append((os.path.basename(p)[: -len("-days.csv")], rows))
    days_max = max((float(r["day"]) for _, rows in runs for r in rows), default=1.0)
    margin_lines, traffic_lines = [], []
    m_lo, m_hi, t_hi = 0.0, 1.0, 0.0
    for i, (name, rows) in enumerate(runs):
        colour = COLOURS[i % len(COLOURS)]
        seen = [(float(r["day"]), float(r["min_margin_seen"])) for r in rows]
        durable = [(float(r["day"]), float(r["min_durable_margin"])) for r in rows]
        repair = [(float(r["day"]), float(r["repair_bytes"]) / MIB) for r in rows]
        audit = [(float(r["day"]), float(r["audit_bytes"]) / MIB) for r in rows]
        oracle = [(float(r["day"]), float(r["oracle_bytes"]) / MIB) for r in rows]
        for _, v in seen + durable:
            m_lo, m_hi = min(m_lo, v), max(m_hi, v)
        for _, v in repair + audit + oracle:
            t_hi = max(t_hi, v)
        margin_lines += [(f"{name} seen", colour, None, seen),
                         (f"{name} durable", colour, "4 3", durable)]
        traffic_lines += [(f"{name} repair", colour, None, repair),
                          (f"{name} audit", colour, "1 3", audit)]
        if i == 0:
            traffic_lines.append(("oracle", "#000", "6 3", oracle))
    height = MARGIN_T + 2 * PANEL_H + GAP + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{WIDTH}" height="{height}" fill="white"/>']
    panel(out, MARGIN_T, "Lowest margin per day", "margin (fragments)", margin_lines,
          days_max, m_lo - 1, m_hi + 1)
    panel(out, MARGIN_T + PANEL_H + GAP, "Traffic per day (day on the x axis)", "MiB per day",
          traffic_lines, days_max, 0.0, nice_max(t_hi))
    out.append("</svg>")
    try:
        with open(target, "w") as f:
            f.write("\n".join(out) + "\n")
    except OSError as e:
        print(f"plot_days.py: {e}", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
