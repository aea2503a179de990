#!/usr/bin/env python3
"""report.py — turn the raw lines of scripts/bench into its report.

    report.py RESULTS.ndjson OUT.json OUT.png

Prints the table of ratios and the scale table on stdout, writes the same
figures to OUT.json and the plot of cost against store size to OUT.png.
A ratio is the anchor's time divided by kvfs's time, taken per run (both
sides of a run ran back to back, or through the mount took turns a tenth
of the files at a time) and then the median over the runs: above 1 kvfs
is faster. Costs are medians too. Each ratio comes twice: from the
time taken (wall clock, what a user waits) and from the CPU time spent
(user and system time of every process doing the work: the driver and the
FUSE daemon, or the whole Deno process). On a loaded machine the wall
clock mostly measures the scheduler: a process that never sleeps (a C
loop over SQLite) gets its fair share of a busy CPU, while one that hands
work between threads is woken with priority. Targets are judged on both.

The etcd tables put kvfs on an etcd store beside kvfs on SQLite; there the
ratio is etcd's time divided by SQLite's (above 1 etcd is slower by that
factor: the cost of going distributed), and the CPU time includes the
three etcd members'.
"""
import json
import math
import statistics
import subprocess
import sys

results_path, json_path, png_path = sys.argv[1:4]
rows = [json.loads(line) for line in open(results_path) if line.strip()]
meta = {}
for r in rows:
    if r["cmp"] == "meta":
        meta.update({k: v for k, v in r.items() if k != "cmp"})


def median(values):
    return statistics.median(values) if values else None


def paired_ratios(kvfs, anchor):
    """anchor/kvfs per run, for the runs both sides finished."""
    return [anchor[run] / kvfs[run] for run in sorted(kvfs)
            if run in anchor and kvfs[run] > 0]


# ---- 1. through the mount ---------------------------------------------------

def mount_runs(cmp, op):
    """{(side, run): (wall ns, cpu ns) per file} of op in comparison cmp,
    over all the turns of each run (scripts/bench runs an operation a
    tenth of the files at a time, the sides taking turns)."""
    sums = {}
    for r in rows:
        if r["cmp"] == cmp and r.get("op") == op:
            s = sums.setdefault((r["side"], r["run"]), [0, 0, 0])
            s[0] += r["ns"]
            s[1] += r["cpu_ns"]
            s[2] += r["n"]
    return {key: (ns / n, cpu / n) for key, (ns, cpu, n) in sums.items()
            if n}


FS_OPS = [("create", "create+write a file", True),
          ("read", "open+read a file", True),
          ("stat", "stat a file", False),
          ("list", "list the directory (per entry)", False)]


def by_side(figures, sides):
    """{side: {"wall": {run: ns}, "cpu": {run: ns}}} from mount_runs()."""
    per = {side: {"wall": {}, "cpu": {}} for side in sides}
    for (side, run), (wall, cpu) in figures.items():
        per[side]["wall"][run] = wall
        per[side]["cpu"][run] = cpu
    return per


def summarize(per_side, anchor):
    """Medians and per-run ratios of one operation, in both clocks."""
    out = {}
    for clock in ("wall", "cpu"):
        kvfs = per_side["kvfs"][clock]
        other = per_side[anchor][clock]
        ratios = paired_ratios(kvfs, other)
        out[clock] = {
            "kvfs_us": median(list(kvfs.values())) / 1e3,
            anchor + "_us": median(list(other.values())) / 1e3,
            "ratio": median(ratios),
            "ratios": [round(r, 3) for r in ratios],
        }
    return out


def fs_summary():
    out = {}
    for op, _, _ in FS_OPS:
        out[op] = summarize(by_side(mount_runs("fs", op),
                                    ("kvfs", "passthrough")), "passthrough")
    return out


# ---- 4. sealed against plain ----------------------------------------------

SEALED_OPS = [("create", "create+write a file"), ("read", "open+read a file")]


def sealed_summary():
    """Sealing's overhead: sealed/plain - 1 per run, then the median."""
    out = {}
    for op, _ in SEALED_OPS:
        out[op] = {}
        sides = by_side(mount_runs("sealed", op), ("plain", "sealed"))
        for clock in ("wall", "cpu"):
            per = {side: sides[side][clock] for side in sides}
            over = [per["sealed"][run] / per["plain"][run] - 1
                    for run in sorted(per["plain"])
                    if run in per["sealed"] and per["plain"][run] > 0]
            out[op][clock] = {
                "plain_us": median(list(per["plain"].values())) / 1e3,
                "sealed_us": median(list(per["sealed"].values())) / 1e3,
                "overhead": median(over),
                "overheads": [round(o, 3) for o in over],
            }
    return out


# ---- 2. the store against Deno ------------------------------------------

STORE_OPS = [("set", "set (one commit)"), ("get", "get"),
             ("list", "list (per entry)"), ("atomic", "atomic check+set")]


def store_summary():
    out = {}
    media = sorted({r["medium"] for r in rows if r["cmp"] == "store"})
    for medium in media:
        mine = [r for r in rows if r["cmp"] == "store" and r["medium"] == medium]
        out[medium] = {}
        for op, _ in STORE_OPS:
            per = {side: {"wall": {}, "cpu": {}} for side in ("kvfs", "deno")}
            for r in mine:
                per[r["side"]]["wall"][r["run"]] = r[op + "_ns"]
                per[r["side"]]["cpu"][r["run"]] = r[op + "_cpu_ns"]
            out[medium][op] = summarize(per, "deno")
        sync = {r.get("synchronous") for r in mine if r["side"] == "kvfs"}
        journal = {r.get("journal_mode") for r in mine if r["side"] == "kvfs"}
        out[medium]["kvfs_synchronous"] = ",".join(sorted(sync))
        out[medium]["kvfs_journal_mode"] = ",".join(sorted(journal))
        out[medium]["n"] = mine[0]["n"]
        out[medium]["n_atomic"] = mine[0]["n_atomic"]
    return out


# ---- 3. scale ---------------------------------------------------------------

SCALE_OPS = [("ls", "ls a 10-entry directory"), ("statkey", "stat one key"),
             ("find", "find over one tenant")]


def scale_rows(engine):
    """Rows of the scale comparison on engine (SQLite's carry no tag)."""
    return [r for r in rows
            if r["cmp"] == "scale" and r.get("engine", "sqlite") == engine]


def scale_entry(mine, size):
    """Medians of one store's samples."""
    gen = next(r for r in mine if r["op"] == "generate")
    rss = next(r for r in mine if r["op"] == "rss")
    entry = {"requested": size, "keys": gen["keys"], "users": gen["users"],
             "tenants": gen["tenants"], "generate_s": gen["seconds"],
             "rss_mib": rss["kib"] / 1024}
    for op, _ in SCALE_OPS:
        parts = [r for r in mine if r["op"] == op]
        samples = [ns for r in parts for ns in r["samples_ns"]]
        entry[op + "_ms"] = median(samples) / 1e6
        entry[op + "_samples"] = len(samples)
        entry[op + "_entries"] = parts[-1]["entries"]
    return entry


def scale_summary():
    sqlite = scale_rows("sqlite")
    sizes = sorted({r["size"] for r in sqlite})
    out = {"sizes": [], "ops": {}}
    for size in sizes:
        out["sizes"].append(scale_entry(
            [r for r in sqlite if r["size"] == size], size))
    if len(out["sizes"]) >= 2:
        first, last = out["sizes"][0], out["sizes"][-1]
        span = math.log(last["keys"] / first["keys"])
        for op in [op for op, _ in SCALE_OPS] + ["rss"]:
            field = "rss_mib" if op == "rss" else op + "_ms"
            factor = last[field] / first[field]
            out["ops"][op] = {
                "factor": factor,
                # cost ~ keys^exponent: 0 flat or logarithmic, 1 linear
                "exponent": math.log(factor) / span,
                "from_keys": first["keys"], "to_keys": last["keys"],
            }
    return out


# ---- etcd against SQLite ----------------------------------------------------

def paired(ops, figures):
    """summarize() of each op, SQLite ("kvfs") against etcd, from
    figures(op) = {(side, run): (wall ns, cpu ns) per operation}."""
    return {op: summarize(by_side(figures(op), ("kvfs", "etcd")), "etcd")
            for op in ops}


def store_runs(op):
    """{(side, run): (wall ns, cpu ns)} of op in the etcd-store rows, each
    of which times every op of its run."""
    return {(r["side"], r["run"]): (r[op + "_ns"], r[op + "_cpu_ns"])
            for r in rows if r["cmp"] == "etcd-store"}


def etcd_summary(scale):
    """The etcd column, or why there is none."""
    if not any(r["cmp"] == "etcd-store" for r in rows):
        return {"skipped": meta.get("etcd_skipped", "not run")}
    out = {
        "version": meta.get("etcd"),
        "idle_cpu_ms_per_s": meta.get("etcd_idle_cpu_ns_per_s", 0) / 1e6,
        "store": paired([op for op, _ in STORE_OPS], store_runs),
        "n": meta.get("etcd_sets"),
        "n_atomic": meta.get("etcd_atomics"),
    }
    if any(r["cmp"] == "etcd-fs" for r in rows):
        out["mount"] = paired([op for op, _, _ in FS_OPS],
                              lambda op: mount_runs("etcd-fs", op))
        out["files"] = meta.get("etcd_files")
    mine = scale_rows("etcd")
    if mine:
        size = mine[0]["size"]
        entry = scale_entry(mine, size)
        base = next(e for e in scale["sizes"] if e["requested"] == size)
        entry["ratio"] = {op: entry[op + "_ms"] / base[op + "_ms"]
                          for op, _ in SCALE_OPS}
        entry["ratio"]["rss"] = entry["rss_mib"] / base["rss_mib"]
        out["scale"] = entry
    return out


# ---- targets ---------------------------------------------------------------

def targets(fs, store, scale, sealed):
    out = []

    def add(name, value, text, met):
        out.append({"measurement": name, "value": value, "target": text,
                    "met": met})

    def add_ratio(name, figures, want):
        for clock in ("wall", "cpu"):
            v = figures[clock]["ratio"]
            add(f"{name} [{clock}]", v, f">= {want:g}x", v >= want)

    for op in ("create", "read"):
        add_ratio(f"mount {op} vs passthrough_ll (1)", fs[op], 1.0)
    for medium in sorted(store):
        s = store[medium]
        add_ratio(f"store get, {medium} (2)", s["get"], 10)
        add_ratio(f"store list, {medium} (2)", s["list"], 3)
        for op in ("set", "atomic"):
            add_ratio(f"store {op}, {medium} (2)", s[op], 1.0)
    big = [e for e in scale["sizes"] if e["keys"] >= 900000]
    if big:
        e = big[-1]
        add("ls 10 entries at 10^6 (3)", e["ls_ms"], "< 10 ms", e["ls_ms"] < 10)
        add("stat one key at 10^6 (3)", e["statkey_ms"], "< 1 ms",
            e["statkey_ms"] < 1)
        add("daemon RSS at 10^6 (3)", e["rss_mib"], "< 64 MiB",
            e["rss_mib"] < 64)
    else:
        for name in ("ls 10 entries at 10^6 (3)", "stat one key at 10^6 (3)",
                     "daemon RSS at 10^6 (3)"):
            add(name, None, "not measured (no 10^6 store in this run)", None)
    if scale["ops"]:
        worst = max(scale["ops"][op]["factor"] for op in ("ls", "statkey", "find"))
        span = scale["ops"]["ls"]["to_keys"] / scale["ops"]["ls"]["from_keys"]
        # log(10^6)/log(10^4) = 1.5; twice that leaves room for noise, and
        # linear growth would be the 100-fold span itself.
        add(f"growth over {span:.0f}x keys (3)", worst,
            "logarithmic: <= 3x", worst <= 3)
    else:
        add("growth 10^4 -> 10^6 (3)", None, "not measured (one size)", None)
    for op, _ in SEALED_OPS:
        for clock in ("wall", "cpu"):
            v = sealed[op][clock]["overhead"]
            add(f"sealing overhead, {op} (4) [{clock}]", v, "< 20%", v < 0.20)
    return out


# ---- printing ------------------------------------------------------------

def fmt_us(us):
    if us is None:
        return "-"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} us"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def print_row(label, f, anchor):
    w, c = f["wall"], f["cpu"]
    print(f"  {label:38} {fmt_us(w['kvfs_us']):>10} "
          f"{fmt_us(w[anchor + '_us']):>11} {fmt_ratio(w['ratio']):>7} "
          f"{fmt_ratio(c['ratio']):>10}")


def print_etcd_head(title):
    print(f"\n{title:40} {'SQLite':>10} {'etcd':>11} {'ratio':>7} "
          f"{'cpu ratio':>10}")


def print_etcd_note(etcd):
    print(f"  (ratio = etcd's time / SQLite's; cpu includes the 3 etcd "
          f"members, idle {etcd['idle_cpu_ms_per_s']:.0f} ms/s)")


def print_etcd_scale(e, scale):
    print(f"\n{'3. scale on etcd, ' + str(e['keys']) + ' keys (median)':40} "
          f"{'SQLite':>10} {'etcd':>11} {'ratio':>7}")
    base = next(b for b in scale["sizes"] if b["requested"] == e["requested"])
    for op, label in SCALE_OPS:
        print(f"  {label:38} {fmt_us(base[op + '_ms'] * 1000):>10} "
              f"{fmt_us(e[op + '_ms'] * 1000):>11} "
              f"{fmt_ratio(e['ratio'][op]):>7}")
    print(f"  {'daemon peak RSS':38} {base['rss_mib']:>6.1f} MiB "
          f"{e['rss_mib']:>7.1f} MiB {fmt_ratio(e['ratio']['rss']):>7}")
    print(f"  {'(generate the store)':38} {base['generate_s']:>8.1f} s "
          f"{e['generate_s']:>9.1f} s")


def print_report(fs, store, scale, tgts, sealed, etcd):
    print(f"kvfs bench ({'quick' if meta.get('quick') else 'full'}: "
          f"{meta.get('runs')} runs, {meta.get('cpus')} CPUs, load "
          f"{meta.get('load_before')} -> {meta.get('load_after')}, "
          f"{meta.get('seconds')} s)")
    print("ratio = anchor's time / kvfs's time, median of per-run ratios; "
          "above 1.00x kvfs is faster;\ncpu ratio: the same for CPU time "
          "(driver + daemon, or the whole Deno process); times are wall "
          "clock\n")
    def head(anchor):
        return f"{'kvfs':>10} {anchor:>11} {'ratio':>7} {'cpu ratio':>10}"

    print(f"{'1. mount (' + str(meta.get('files')) + ' files)':40} "
          + head("passthru_ll"))
    for op, label, _ in FS_OPS:
        print_row(label, fs[op], "passthrough")
    if "skipped" in etcd:
        print(f"\n(no etcd column: {etcd['skipped']})")
    elif "mount" not in etcd:
        print("\n(etcd: the store part only, in --quick)")
    else:
        print_etcd_head(f"1. mount on etcd ({etcd['files']} files)")
        for op, label, _ in FS_OPS:
            print_row(label, etcd["mount"][op], "etcd")
        print_etcd_note(etcd)
    for medium, s in sorted(store.items()):
        print(f"\n{'2. store vs Deno, ' + medium + ' (' + str(s['n']) + ' keys)':40} "
              + head("Deno"))
        for op, label in STORE_OPS:
            print_row(label, s[op], "deno")
        print(f"  (kvfs connection: synchronous={s['kvfs_synchronous']}, "
              f"journal_mode={s['kvfs_journal_mode']}; Deno: synchronous=2 "
              f"FULL, WAL)")
    if "store" in etcd:
        print_etcd_head(f"2. store on etcd, tmpfs ({etcd['n']} keys)")
        for op, label in STORE_OPS:
            print_row(label, etcd["store"][op], "etcd")
        print_etcd_note(etcd)
    sizes = scale["sizes"]
    print(f"\n{'3. scale (median)':32}" +
          "".join(f"{e['keys']:>12}" for e in sizes) +
          ("   growth" if scale["ops"] else ""))
    for op, label in SCALE_OPS + [("rss", "daemon peak RSS")]:
        line = f"  {label:30}"
        for e in sizes:
            line += (f"{e['rss_mib']:>8.1f} MiB" if op == "rss"
                     else f"{fmt_us(e[op + '_ms'] * 1000):>12}")
        if op in scale["ops"]:
            g = scale["ops"][op]
            line += f"   {g['factor']:.2f}x (keys^{g['exponent']:.2f})"
        print(line)
    if sizes:
        print(f"  {'(find walks, entries)':30}" +
              "".join(f"{e['find_entries']:>12}" for e in sizes))
        print(f"  {'(generate the store)':30}" +
              "".join(f"{e['generate_s']:>10.1f} s" for e in sizes))
    if "scale" in etcd:
        print_etcd_scale(etcd["scale"], scale)
    print(f"\n{'4. sealed vs plain (' + str(meta.get('files')) + ' files)':40} "
          f"{'plain':>10} {'sealed':>11} {'overhead':>9} {'cpu overhead':>13}")
    for op, label in SEALED_OPS:
        w, c = sealed[op]["wall"], sealed[op]["cpu"]
        print(f"  {label:38} {fmt_us(w['plain_us']):>10} "
              f"{fmt_us(w['sealed_us']):>11} {w['overhead'] * 100:>8.1f}% "
              f"{c['overhead'] * 100:>12.1f}%")
    print(f"\n{'target':42} {'measured':>10}  {'wanted':28} verdict")
    for t in tgts:
        v = t["value"]
        shown = ("-" if v is None else
                 f"{v * 100:.1f}%" if "overhead" in t["measurement"] else
                 f"{v:.2f} MiB" if "RSS" in t["measurement"] else
                 f"{v:.2f} ms" if "(3)" in t["measurement"] and "growth" not in t["measurement"] else
                 f"{v:.2f}x")
        verdict = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        print(f"{t['measurement']:42} {shown:>10}  {t['target']:28} {verdict}")


# ---- the plot ---------------------------------------------------------------

def plot(scale, on_etcd):
    """The SQLite stores as lines; the etcd store, when measured, as open
    points of the same colours at its size."""
    sizes = scale["sizes"]
    data = "\n".join(f"{e['keys']} {e['ls_ms']} {e['statkey_ms']} "
                     f"{e['find_ms']} {e['rss_mib']}" for e in sizes)
    etcd_data = etcd_plot = ""
    if on_etcd:
        e = on_etcd
        etcd_data = (f"$e << EOD\n{e['keys']} {e['ls_ms']} {e['statkey_ms']} "
                     f"{e['find_ms']}\nEOD")
        etcd_plot = "".join(
            f", \\\n     $e using 1:{col} with points lc {col - 1} pt {pt} "
            f"ps 2 lw 2 title \"{name}, on etcd\""
            for col, pt, name in ((2, 6, "ls"), (3, 4, "stat"), (4, 8, "find")))
    script = f"""
set terminal pngcairo size 900,560 font ",11"
set output "{png_path}"
set title "kvfs: cost against store size (medians, {meta.get('cpus')} CPUs, shared machine)"
set logscale x 10
set logscale y 10
set xrange [{sizes[0]['keys'] / 2}:{sizes[-1]['keys'] * 2}]
set format x "10^{{%T}}"
set xlabel "keys in the store"
set ylabel "time per operation (ms)"
set y2label "daemon peak RSS (MiB)"
set y2range [0:*]
set ytics nomirror
set y2tics
set grid
set key below
$d << EOD
{data}
EOD
{etcd_data}
plot $d using 1:2 with linespoints lw 2 pt 7 title "ls of a 10-entry directory", \\
     $d using 1:3 with linespoints lw 2 pt 5 title "stat of one key", \\
     $d using 1:4 with linespoints lw 2 pt 9 title "find over one tenant", \\
     $d using 1:5 axes x1y2 with linespoints lw 2 dt 2 pt 4 title "daemon peak RSS (right axis)"{etcd_plot}
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        script = script.replace("pngcairo size 900,560 font \",11\"",
                                "png size 900,560")
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


fs = fs_summary()
store = store_summary()
scale = scale_summary()
sealed = sealed_summary()
tgts = targets(fs, store, scale, sealed)
etcd = etcd_summary(scale)
print_report(fs, store, scale, tgts, sealed, etcd)
with open(json_path, "w") as f:
    json.dump({"meta": meta, "mount": fs, "store": store, "scale": scale,
               "sealed": sealed, "etcd": etcd, "targets": tgts}, f, indent=1)
    f.write("\n")
if scale["sizes"]:
    plot(scale, etcd.get("scale"))
print(f"\nwrote {json_path} and {png_path}")
