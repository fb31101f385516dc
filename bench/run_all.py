"""`make bench`: run every benchmark in bench/ with sizes that fit in about 10 minutes on a 2-core
machine, collect their figures and write bench/RESULTS.md (each figure, the baseline measured in
the same run, the ratio, and the exact command of every step).

    .venv/bin/python bench/run_all.py [--only send,api_read,...] [--output bench/RESULTS.md]

Scripts that print a final JSON line ({"bench", "results": [{figure, unit, value, baseline,
baseline_name, higher_is_better}]}) are read from it; the others' text output is parsed here
(PARSERS). A step that fails or prints nothing recognisable is listed as failed with its last output
lines; the other steps still run. PostgreSQL steps run when SENDHOUSE_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PY = str(Path(sys.executable))
PG = os.environ.get("SENDHOUSE_TEST_POSTGRES_URL", "")
STEP_TIMEOUT = 300


@dataclass
class Step:
    name: str
    args: list[str]
    reduced: str  # how the sizes differ from the script's defaults
    env: dict = field(default_factory=dict)


def steps() -> list[Step]:
    pg_env = {"SENDHOUSE_TEST_POSTGRES_URL": PG} if PG else {}
    return [
        Step(
            "send",
            ["send.py", "--serve", "--recipients", "20000", "--runs", "3"],
            "`sendhouse serve` with default settings, 20,000 recipients (default 100,000), median of 3 runs",
        ),
        Step(
            "send_dkim",
            ["send.py", "--serve", "--dkim", "--recipients", "20000", "--runs", "3"],
            "as send, every message signed with RSA-2048 DKIM",
        ),
        *(
            [
                Step(
                    "send_pg",
                    ["send.py", "--serve", "--recipients", "20000", "--runs", "3", "--database-url", PG],
                    "as send, on PostgreSQL",
                )
            ]
            if PG
            else []
        ),
        Step(
            "abort_latency",
            ["abort_latency.py", "--rounds", "5", "--recipients", "10000"],
            "5 rounds, 10,000 recipients each (default 7, 20,000)",
        ),
        Step("api_read", ["api_read.py", "--duration", "10"], "defaults (wrk -t2 -c32 -d10s)"),
        Step("tracking", ["tracking.py", "--duration", "8"], "8 s per wrk run (default 10)"),
        Step(
            "import_contacts",
            ["import_contacts.py", "--rows", "100000"] + (["--postgres", PG] if PG else []),
            "100,000 rows (default 1,000,000)",
        ),
        Step(
            "segment_count",
            ["segment_count.py", "--contacts", "200000", "--runs", "3"],
            "200,000 contacts, 3 runs (default 1,000,000, 5)",
            pg_env,
        ),
        Step(
            "expand", ["expand.py", "--recipients", "50000"], "50,000 recipients, SQLite (default 1,000,000)"
        ),
        Step(
            "build",
            ["build.py", "--messages", "2000", "--runs", "3"],
            "2,000 messages, 3 runs (default 5,000, 5)",
        ),
        Step(
            "crash_duplicates",
            ["crash_duplicates.py", "--recipients", "20000", "--kills", "5"],
            "defaults (20,000 recipients, 5 kills, 8 connections), SQLite",
        ),
        *(
            [
                Step(
                    "crash_duplicates_pg",
                    ["crash_duplicates.py", "--recipients", "20000", "--kills", "5", "--database-url", PG],
                    "defaults, PostgreSQL",
                )
            ]
            if PG
            else []
        ),
        Step(
            "automations",
            ["automations.py", "--contacts", "20000"] + (["--postgres", PG] if PG else []),
            "20,000 contacts (default 100,000)",
        ),
        Step("submission", ["submission.py", "--messages", "4000"], "4,000 messages (default 2,000), SQLite"),
        *(
            [
                Step(
                    "submission_pg",
                    ["submission.py", "--messages", "4000", "--database-url", PG],
                    "4,000 messages, PostgreSQL",
                )
            ]
            if PG
            else []
        ),
        Step("inbound_flood", ["inbound_flood.py"], "defaults (12 clients x 5 reports of 250 KB)"),
        Step(
            "api_load",
            ["api_load.py", "--recipients", "160000", "--duration", "20", "--quiet", "10"],
            "-c200 for 20 s (the full test: --duration 60), 160,000 recipients (the campaign must outlast both windows)",
        ),
    ]


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _row(figure, unit, value, baseline=None, baseline_name=None, higher=True) -> dict:
    return {
        "figure": figure,
        "unit": unit,
        "value": value,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "higher_is_better": higher,
    }


def parse_send(out: str) -> list[dict]:
    ours = re.search(
        r"(\w+): (\d+) recipients, expansion ([\d.]+) s, publish→last accepted ([\d.]+) s = (\d+) msg/s"
        r" \(tracking on, DKIM (on|off), ([^,]+),",
        out,
    )
    anchor = re.search(r"smtp-source → same smtp-sink: (\d+) msg/s", out)
    dkim = ", RSA-2048 DKIM" if ours.group(6) == "on" else ""
    return [
        _row(
            f"send, publish → last accepted ({ours.group(1)}, tracking on{dkim}, {ours.group(7)}, median of 3)",
            "msg/s",
            _num(ours.group(5)),
            _num(anchor.group(1)),
            "Postfix smtp-source -s 20 → same smtp-sink",
        )
    ]


def parse_submission(out: str) -> list[dict]:
    ours = re.search(r"submission \((\w+), (\d+) connections, ([^)]+)\): .*?([\d,]+) msg/s accepted", out)
    anchor = re.search(r"smtp-source → smtp-sink \((\d+) sessions\): ([\d,]+) msg/s", out)
    return [
        _row(
            f"SMTP submission, accepted ({ours.group(1)}, {ours.group(2)} connections, {ours.group(3)})",
            "msg/s",
            _num(ours.group(4)),
            _num(anchor.group(2)),
            f"smtp-source → smtp-sink ({anchor.group(1)} sessions)",
        )
    ]


def parse_inbound_flood(out: str) -> list[dict]:
    found = {
        name: (_num(p50), _num(p95))
        for name, p50, p95 in re.findall(r"(idle|flooded): \d+ probes, p50 ([\d.]+) ms, p95 ([\d.]+) ms", out)
    }
    name = "/healthz with the receiver idle"
    return [
        _row(
            "/healthz p50 while the inbound receiver is flooded",
            "ms",
            found["flooded"][0],
            found["idle"][0],
            name,
            False,
        ),
        _row(
            "/healthz p95 while the inbound receiver is flooded",
            "ms",
            found["flooded"][1],
            found["idle"][1],
            name,
            False,
        ),
    ]


def parse_tracking(out: str) -> list[dict]:
    def line(name):
        found = re.search(re.escape(name) + r"\s+(\d+) req/s\s+p99\s+([\d.]+) ms", out)
        return _num(found.group(1)), _num(found.group(2))

    bare, pixel, click = (
        line(n)
        for n in (
            "bare Starlette pixel (uvicorn)",
            "sendhouse serve: open pixel",
            "sendhouse serve: click redirect",
        )
    )
    name = "bare Starlette pixel endpoint"
    return [
        _row("tracking pixel", "req/s", pixel[0], bare[0], name),
        _row("tracking pixel p99", "ms", pixel[1], bare[1], name, False),
        _row("click redirect", "req/s", click[0], bare[0], name),
        _row("click redirect p99", "ms", click[1], bare[1], name, False),
    ]


def parse_import(out: str) -> list[dict]:
    rows = []
    for section in re.split(r"\n(?=SQLite:|PostgreSQL:)", out)[1:]:
        label = section.split(":", 1)[0]
        for kind, rate in re.findall(r"(first import|re-import \(updates\)): .*? = ([\d,]+) rows/s", section):
            rows.append(
                _row(f"CSV import, {kind} ({label})", "rows/s", _num(rate), None, "goal 50,000 rows/s")
            )
    return rows


def parse_segment(out: str) -> list[dict]:
    rows = []
    for label, count, median in re.findall(
        r"(SQLite|PostgreSQL):\n(?:.*\n)*?\s+segment count = ([\d,]+); median ([\d.]+) s", out
    ):
        rows.append(
            _row(
                f"segment count, 3 conditions ({label}, {count} match)",
                "s",
                _num(median),
                None,
                "goal < 1 s at 1,000,000",
                False,
            )
        )
    return rows


def parse_expand(out: str) -> list[dict]:
    found = re.search(
        r"(\w+): expanded (\d+) recipients into ledger rows in ([\d.]+) s \((\d+) rows/s\)", out
    )
    return [
        _row(
            f"audience expansion ({found.group(1)}, {found.group(2)} recipients)",
            "rows/s",
            _num(found.group(4)),
            None,
            "goal 33,000 rows/s (1,000,000 in 30 s)",
        )
    ]


def parse_build(out: str) -> list[dict]:
    rates = dict(re.findall(r"(without DKIM|with DKIM \(RSA-2048\)): ([\d,]+) messages per CPU second", out))
    plain, dkim = _num(rates["without DKIM"]), _num(rates["with DKIM (RSA-2048)"])
    return [
        _row("message build, no DKIM (per CPU second)", "msg/s", plain, None, "goal 10,000/s"),
        _row(
            "message build, DKIM RSA-2048 (per CPU second)", "msg/s", dkim, plain, "same build without DKIM"
        ),
    ]


PARSERS = {
    "send": parse_send,
    "send_dkim": parse_send,
    "send_pg": parse_send,
    "submission": parse_submission,
    "submission_pg": parse_submission,
    "inbound_flood": parse_inbound_flood,
    "tracking": parse_tracking,
    "import_contacts": parse_import,
    "segment_count": parse_segment,
    "expand": parse_expand,
    "build": parse_build,
}


def json_results(out: str) -> list[dict] | None:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)["results"]
    return None


def _execute(step: Step) -> tuple[object, str, str]:
    """(return code or "timeout", stdout, stderr) of one benchmark script."""
    try:
        done = subprocess.run(
            [PY, str(BENCH / step.args[0]), *step.args[1:]],
            capture_output=True,
            text=True,
            check=False,
            timeout=STEP_TIMEOUT,
            env={**os.environ, **step.env},
            cwd=BENCH.parent,
        )
        return done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as error:

        def decode(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

        return "timeout", decode(error.stdout), decode(error.stderr)


def run_step(step: Step) -> dict:
    prefix = "".join(f"{k}={v} " for k, v in step.env.items())
    command = prefix + shlex.join([".venv/bin/python", "bench/" + step.args[0], *step.args[1:]])
    print(f"== {step.name}: {command}", flush=True)
    t0 = time.perf_counter()
    code, out, err = _execute(step)
    print(out, flush=True)
    result = {
        "step": step,
        "command": command,
        "seconds": time.perf_counter() - t0,
        "code": code,
        "tail": out.strip().splitlines()[-6:],
    }
    if code != 0:
        result["tail"] += err.strip().splitlines()[-8:]
        return result
    try:
        result["rows"] = PARSERS[step.name](out) if step.name in PARSERS else json_results(out)
        if '"valid": false' in out:
            result["note"] = "invalid: the campaign finished before the load window ended"
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        result["code"] = f"unparsed output ({type(error).__name__})"
    return result


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _ratio(row: dict) -> str:
    base, value = row.get("baseline"), row["value"]
    if not base or value is None:
        return "—"
    return f"{value / base:.2f}" + ("" if row["higher_is_better"] else " (lower is better)")


def render(results: list[dict], header: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (bench/run_all.py); do not edit by hand. Figures of one run on a shared",
        "machine: read the ratios, which compare against a baseline measured in the same run.",
        "",
        f"- date: {header['date']}",
        f"- machine: {header['machine']}",
        f"- load average at start: {header['load']}",
        f"- command: `{header['command']}`",
        f"- total time: {header['total']:.0f} s",
        "",
        "| benchmark | figure | value | baseline (same run) | baseline | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for row in result.get("rows") or []:
            lines.append(
                f"| {result['step'].name} | {row['figure']} | {_fmt(row['value'])} {row['unit']} | "
                f"{row.get('baseline_name') or 'none measured'} | {_fmt(row.get('baseline'))} | {_ratio(row)} |"
            )
    lines += [
        "",
        "## Steps and exact commands",
        "",
        "| step | command | sizes | time | status |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        status = "ok" if result["code"] == 0 else f"FAILED ({result['code']})"
        status += f"; {result['note']}" if result.get("note") else ""
        lines.append(
            f"| {result['step'].name} | `{result['command']}` | {result['step'].reduced} | "
            f"{result['seconds']:.0f} s | {status} |"
        )
    failed = [r for r in results if r["code"] != 0]
    for result in failed:
        lines += ["", f"### {result['step'].name} failed", "", "```", *result["tail"], "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    args = parser.parse_args()
    wanted = {s for s in args.only.split(",") if s}
    chosen = [s for s in steps() if not wanted or s.name in wanted]
    chosen = [s for s in chosen if s.name != "tracking" or (BENCH / "tracking.py").exists()]
    header = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()}, {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "command": "make bench" + (f" (bench/run_all.py --only {args.only})" if args.only else ""),
    }
    t0 = time.perf_counter()
    results = [run_step(step) for step in chosen]
    header["total"] = time.perf_counter() - t0
    Path(args.output).write_text(render(results, header))
    print(f"wrote {args.output} in {header['total']:.0f} s")
    sys.exit(1 if any(r["code"] != 0 for r in results) else 0)


if __name__ == "__main__":
    main()
