"""The bench's output: derived columns, the issue's targets, and the tables printed with rich."""

from __future__ import annotations

from statistics import median

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# RSS may grow while pools and caches fill; past this share of the first sample it is a leak suspect.
SOAK_FLAT_PCT = 5.0
# A paced row that achieved less than this share of its offered rate did not carry the load: its
# latency includes queueing, like a saturated row's, and says nothing about one request's cost.
CARRIED_SHARE = 0.95
# The concurrency at which issue 7 states its latency target.
TARGET_CONC = 16
# Body kinds whose only target is their throughput against the reference's pass-through of the same.
CAPABILITY_ROWS = {
    "rerank": "rerank (16 documents)",
    "msg": "Anthropic Messages (translated to OpenAI chat; the reference passes it through)",
    "resp": "Responses",
}


COLUMNS = (
    "scenario",
    "body",
    "c",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "errors",
    "RSS MiB",
    "CPU µs/req",
    "p50 over direct (saturated)",
    "vs reference",
)

PACED_COLUMNS = (
    "scenario",
    "body",
    "c",
    "offered req/s",
    "achieved req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "errors",
    "server CPU %",
    "p50 over direct",
)


def _find(rows: list[dict], scenario: str, body: str, conc: int) -> dict | None:
    for row in rows:
        if (row["scenario"], row["body"], row["conc"]) == (scenario, body, conc) and not row["error"]:
            return row
    return None


def annotate(rows: list[dict]) -> None:
    """Add overhead over direct (p50, ms) and throughput relative to the reference, same body and c."""
    for row in rows:
        direct = _find(rows, "direct", row["body"], row["conc"])
        ref = _find(rows, "reference", row["body"], row["conc"])
        row_ok = not row["error"]
        ok = row_ok and row["scenario"] != "direct"
        row["overhead_p50_ms"] = row["p50_ms"] - direct["p50_ms"] if ok and direct else None
        row["vs_reference"] = row["rps"] / ref["rps"] if row_ok and ref and ref["rps"] else None


def annotate_paced(paced: list[dict]) -> None:
    """Add whether the offered rate was carried, and p50 over direct at the same body and rate."""
    for row in paced:
        direct = _find(paced, "direct", row["body"], row["conc"])
        ok = not row["error"]
        row["carried"] = ok and row["rps"] >= CARRIED_SHARE * row["offered_rps"]
        hop = ok and direct is not None and row["scenario"] != "direct"
        row["overhead_p50_ms"] = row["p50_ms"] - direct["p50_ms"] if hop and direct else None


def _ratio(a: dict | None, b: dict | None, key: str) -> float | None:
    if a is None or b is None or not b[key]:
        return None
    return a[key] / b[key]


def _paced_check(paced: list[dict]) -> tuple[str, float | None]:
    """Name and value of the latency target at the paced rate; no value when the rate was not carried."""
    svc = _find(paced, "service", "json", TARGET_CONC)
    if svc is None:
        return f"service p50 over direct, json c={TARGET_CONC}, at a carried rate (latency per request)", None
    name = f"service p50 over direct, json c={TARGET_CONC}, at {svc['offered_rps']:,.0f} req/s (latency per request)"
    if not svc["carried"]:
        return f"{name}: rate not carried", None
    return name, svc["overhead_p50_ms"]


# ---- interleaved pairs ----------------------------------------------------------------------------


def _round_ratios(rows: dict[str, dict], member: str) -> tuple[float | None, float | None]:
    """req/s and CPU µs per request of `member` over the reference's, in one round."""
    ref, other = rows.get("reference"), rows.get(member)
    if ref is None or other is None or ref["error"] or other["error"]:
        return None, None
    return _ratio(other, ref, "rps"), _ratio(other, ref, "cpu_us_per_req")


def _median_of(rounds: list[dict], key: str) -> tuple[float | None, int]:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return (median(values) if values else None), len(values)


def summarize_pairs(members: list[str], rounds: list[dict], body: str, conc: int, error: str = "") -> dict:
    """Each round's ratios to the reference, and their medians (None when no round gave one).

    The median, not the mean: one round caught by a burst of the host's other work moves it least.
    """
    for rnd in rounds:
        rnd["ratio"], rnd["cpu_ratio"] = _round_ratios(rnd["rows"], "service")
        rnd["redis_ratio"], rnd["redis_cpu_ratio"] = _round_ratios(rnd["rows"], "service-redis")
    out: dict = {"members": members, "body": body, "conc": conc, "rounds": rounds, "error": error}
    for key in ("ratio", "cpu_ratio", "redis_ratio", "redis_cpu_ratio"):
        out[f"median_{key}"], out[f"{key}_rounds"] = _median_of(rounds, key)
    row_errors = any(row["error"] for rnd in rounds for row in rnd["rows"].values())
    out["failed"] = bool(error) or row_errors
    return out


def _paired(name: str, single: float | None, pairs: dict | None, key: str) -> tuple[str, float | None]:
    """The paired median when the pairs measured one, else the figure of two rows measured apart."""
    if pairs is None or pairs.get(f"median_{key}") is None:
        return name, single
    return f"{name} (median of {pairs[f'{key}_rounds']} interleaved pairs)", pairs[f"median_{key}"]


def targets(rows: list[dict], paced: list[dict] | None = None, pairs: dict | None = None) -> list[dict]:
    """The issue's acceptance figures, each with its measured value (None when a row is missing).

    The throughput ratios come from the interleaved pairs when there are any: rows measured a minute
    apart on this host swing by more than the margin the target is about.
    """
    annotate(rows)
    annotate_paced(paced or [])
    svc64, svc16 = _find(rows, "service", "json", 64), _find(rows, "service", "json", 16)
    ref64, direct16 = _find(rows, "reference", "json", 64), _find(rows, "direct", "json", 16)
    sse64, sse_ref64 = _find(rows, "service", "sse", 64), _find(rows, "reference", "sse", 64)
    emb64, emb_ref64 = _find(rows, "service", "emb", 64), _find(rows, "reference", "emb", 64)
    redis64 = _find(rows, "service-redis", "json", 64)
    overhead = svc16["p50_ms"] - direct16["p50_ms"] if svc16 and direct16 else None
    paced_name, paced_overhead = _paced_check(paced or [])
    svc_name, svc_ratio = _paired("service req/s vs reference, json c=64", _ratio(svc64, ref64, "rps"), pairs, "ratio")
    redis_single = _ratio(redis64, ref64, "rps")
    redis_name, redis_ratio = _paired("Redis-backed req/s vs reference, json c=64", redis_single, pairs, "redis_ratio")
    checks = [
        (svc_name, svc_ratio, ">=", 0.70, "ratio"),
        (paced_name, paced_overhead, "<=", 1.5, "ms"),
        ("service p50 over direct, json c=16, flat out (saturated: mostly queueing)", overhead, "<=", 1.5, "ms"),
        (
            "streamed vs JSON server CPU per request, c=64",
            _ratio(sse64, svc64, "cpu_us_per_req"),
            "<=",
            1.2,
            "x",
        ),
        (redis_name, redis_ratio, ">=", 0.50, "ratio"),
        ("service req/s vs reference, streamed c=64 (table rows)", _ratio(sse64, sse_ref64, "rps"), ">=", 0.7, "ratio"),
        (
            "service req/s vs reference, embeddings (16 inputs) c=64 (table rows)",
            _ratio(emb64, emb_ref64, "rps"),
            ">=",
            0.70,
            "ratio",
        ),
    ]
    for body, what in CAPABILITY_ROWS.items():
        ratio = _ratio(_find(rows, "service", body, 64), _find(rows, "reference", body, 64), "rps")
        checks.append((f"service req/s vs reference, {what} c=64 (table rows)", ratio, ">=", 0.70, "ratio"))
    out = []
    for name, value, op, goal, unit in checks:
        ok = None if value is None else (value >= goal if op == ">=" else value <= goal)
        out.append({"target": name, "value": value, "op": op, "goal": goal, "unit": unit, "ok": ok})
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.0%}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.2f} ms"


def _verdict(ok: bool | None) -> str:
    return "[dim]n/a[/]" if ok is None else ("[green]PASS[/]" if ok else "[red]FAIL[/]")


def _console() -> Console:
    # Wide enough that no figure is elided when the output is a pipe or a narrow terminal.
    return Console(width=max(Console().width, 140))


def print_report(results: dict) -> None:
    console = _console()
    if results["rows"]:
        _print_closed(console, results)
    if results.get("paced_rows"):
        _print_paced(console, results)
    if results.get("pairs"):
        _print_pairs(console, results)
    _print_targets(console, results)


def _rows_table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in ("scenario", "body") else "right")
    return table


def _print_closed(console: Console, results: dict) -> None:
    info = results["machine"]
    title = (
        f"api-connector bench — {info['nproc']} cores, {info['cpu_model']}, {info['date']}, "
        f"{results['duration_s']}s per row — closed loop, flat out: every target saturated, "
        "so p50 is mostly time spent queueing (about c / req/s)"
    )
    table = _rows_table(title, COLUMNS)
    for row in results["rows"]:
        if row["error"]:
            table.add_row(row["scenario"], row["body"], str(row["conc"]), "[red]failed[/]", *[""] * 8)
            continue
        over = row["overhead_p50_ms"]
        ratio = row["vs_reference"]
        table.add_row(
            row["scenario"],
            row["body"],
            str(row["conc"]),
            f"{row['rps']:,.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p90_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"[red]{row['errors']}[/]" if row["errors"] else "0",
            f"{row['rss_mib']:.0f}",
            f"{row['cpu_us_per_req']:.0f}",
            "—" if over is None else f"{over:+.2f} ms",
            "—" if ratio is None else f"{ratio:.0%}",
        )
    console.print(table)
    for row in results["rows"]:
        per_req = row.get("redis_cmds_per_req")
        if per_req is not None:
            note = "" if per_req >= 1 else " [red](state does not seem to live in Redis)[/]"
            name = f"{row['scenario']} {row['body']} c={row['conc']}"
            console.print(f"{name}: {per_req:.1f} Redis commands per request{note}")
    failed = {(r["scenario"], r["error"]) for r in results["rows"] if r["error"]}
    for scenario, error in sorted(failed):
        console.print(f"[red]{scenario}[/]: {escape(error)}", highlight=False)


def _print_paced(console: Console, results: dict) -> None:
    rates = results["paced_rate_rps"]
    rate_text = ", ".join(f"{rate:,.0f} req/s {body.upper()}" for body, rate in rates.items())
    title = (
        f"latency at a carried rate — open loop at a fixed offered rate ({rate_text}), "
        f"{results['paced_conc']} connections, {results['duration_s']}s per row: "
        "p50 over direct is what the hop adds to one request"
    )
    table = _rows_table(title, PACED_COLUMNS)
    for row in results["paced_rows"]:
        cells = [row["scenario"], row["body"], str(row["conc"]), f"{row['offered_rps']:,.0f}"]
        if row["error"]:
            table.add_row(*cells, "[red]failed[/]", *[""] * 6)
            continue
        over = row["overhead_p50_ms"]
        achieved = f"{row['rps']:,.0f}" if row["carried"] else f"[red]{row['rps']:,.0f} not carried[/]"
        table.add_row(
            *cells,
            achieved,
            f"{row['p50_ms']:.2f}",
            f"{row['p90_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"[red]{row['errors']}[/]" if row["errors"] else "0",
            # Share of one core the target's processes used: how far from saturation the row ran.
            f"{row['cpu_us_per_req'] * row['rps'] / 1e4:.0f}%",
            "—" if over is None else f"{over:+.2f} ms",
        )
    console.print(table)
    for scenario, error in sorted({(r["scenario"], r["error"]) for r in results["paced_rows"] if r["error"]}):
        console.print(f"[red]{scenario} (paced)[/]: {escape(error)}", highlight=False)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _pair_cells(rnd: dict, member: str) -> list[str]:
    """req/s and CPU µs/req of one member in one round ("failed" when its row failed)."""
    row = rnd["rows"].get(member)
    if row is None or row["error"]:
        return ["[red]failed[/]", ""]
    return [f"{row['rps']:,.0f}", f"{row['cpu_us_per_req']:.0f}"]


def _print_pairs(console: Console, results: dict) -> None:
    pairs = results["pairs"]
    redis = "service-redis" in pairs["members"]
    title = (
        f"interleaved pairs — {', '.join(pairs['members'])} side by side, {pairs['body']} c={pairs['conc']}, "
        f"{results['duration_s']}s each, loaded in turn, order alternating: ratios the host's drift does not swing"
    )
    caption = "µs/req: server CPU per request; svc/ref: service over reference in the same round"
    table = Table(title=title, caption=caption + (", redis/ref: Redis-backed over reference" if redis else ""))
    columns = ["round", "first", "ref req/s", "ref µs/req", "svc req/s", "svc µs/req", "svc/ref", "CPU svc/ref"]
    columns += ["redis req/s", "redis µs/req", "redis/ref"] if redis else []
    for col in columns:
        table.add_column(col, justify="left" if col == "first" else "right")
    for rnd in pairs["rounds"]:
        cells = [str(rnd["round"]), rnd["order"][0], *_pair_cells(rnd, "reference"), *_pair_cells(rnd, "service")]
        cells += [_pct(rnd["ratio"]), "—" if rnd["cpu_ratio"] is None else f"{rnd['cpu_ratio']:.2f}x"]
        if redis:
            cells += [*_pair_cells(rnd, "service-redis"), _pct(rnd["redis_ratio"])]
        table.add_row(*cells)
    console.print(table)
    cpu = pairs["median_cpu_ratio"]
    line = f"median service/reference: {_pct(pairs['median_ratio'])} req/s"
    line += "" if cpu is None else f", {cpu:.2f}x CPU per request"
    line += f" (of {pairs['ratio_rounds']} rounds)"
    if redis:
        line += f"; Redis-backed/reference: {_pct(pairs['median_redis_ratio'])} req/s"
    single = _find(results["rows"], "service", "json", pairs["conc"])
    if single is not None and single.get("vs_reference") is not None:
        line += f"; the table's rows, measured apart: {single['vs_reference']:.0%}"
    console.print(line, highlight=False)
    failed = {(name, row["error"]) for rnd in pairs["rounds"] for name, row in rnd["rows"].items() if row["error"]}
    for name, error in sorted(failed | ({("pairs", pairs["error"])} if pairs["error"] else set())):
        console.print(f"[red]{name} (pairs)[/]: {escape(error)}", highlight=False)


def _print_targets(console: Console, results: dict) -> None:
    checks = Table(title="targets (issue 7)")
    for col in ("target", "measured", "goal", "verdict"):
        checks.add_column(col)
    for t in results["targets"]:
        checks.add_row(
            t["target"],
            _fmt(t["value"], t["unit"]),
            f"{t['op']} {_fmt(t['goal'], t['unit'])}",
            _verdict(t["ok"]),
        )
    console.print(checks)


def soak_verdict(samples: list[dict], total: int) -> dict:
    if len(samples) < 2:
        return {"flat": None, "reached": bool(samples) and samples[-1]["requests"] >= total}
    # Issue 7's reading: growth over the second half of the requests (the first half holds the
    # warm-up: pools, caches, the SQLite page cache filling). The whole run's growth is shown too.
    first, last = samples[0]["rss_mib"], samples[-1]["rss_mib"]
    halfway = samples[-1]["requests"] / 2
    middle = next(s["rss_mib"] for s in samples if s["requests"] >= halfway)
    growth = (last - first) / first * 100 if first else 0.0
    second_half = (last - middle) / middle * 100 if middle else 0.0
    return {
        "rss_first_mib": first,
        "rss_middle_mib": middle,
        "rss_last_mib": last,
        "rss_max_mib": max(s["rss_mib"] for s in samples),
        "rss_growth_pct": growth,
        "rss_second_half_growth_pct": second_half,
        "flat": second_half <= SOAK_FLAT_PCT,
        "reached": samples[-1]["requests"] >= total,
        "errors": sum(s["errors"] for s in samples),
    }


def print_soak(soak: dict) -> None:
    console = _console()
    table = Table(title=f"soak: service, 1 worker, json, c=64, until {soak['target_requests']:,} requests")
    for col in ("requests", "req/s", "errors", "RSS MiB"):
        table.add_column(col, justify="right")
    for s in soak["samples"]:
        table.add_row(f"{s['requests']:,}", f"{s['rps']:,.0f}", str(s["errors"]), f"{s['rss_mib']:.1f}")
    console.print(table)
    if soak.get("flat") is None:
        console.print("[dim]soak: too few samples to judge RSS[/]")
        return
    growth = f"{soak['rss_first_mib']:.1f} -> {soak['rss_last_mib']:.1f} MiB ({soak['rss_growth_pct']:+.1f}%)"
    half_pct = soak["rss_second_half_growth_pct"]
    half = f"{soak['rss_middle_mib']:.1f} -> {soak['rss_last_mib']:.1f} MiB ({half_pct:+.1f}%)"
    console.print(
        f"RSS over the run {growth}; over the second half {half}, "
        f"flat (<= {SOAK_FLAT_PCT:.0f}%): {_verdict(soak['flat'])}; "
        f"reached {soak['target_requests']:,} requests: {_verdict(soak['reached'])}"
    )
