"""Import speed of real-world sources: events per second through `import_paths` (read, map,
validate, price, append), into an empty lake, medians of `--repeat` after a warm-up.

    python bench/import_sources.py [--events 500000] [--repeat 3]

Then re-imports of the same Claude Code folder into the lake of a first import: unchanged (goal:
at most 5 % of the first import's time), and after 1 % more replies were appended to its
sessions (goal: at most 5 % of it plus the time to import those replies alone).

Claude Code: sessions of 500 replies written from the real transcript line shapes in
tests/fixtures (each reply one assistant line of ~1.3 KB, with a user line of ~0.6 KB between
replies, one streamed reply in ten written twice). Beside it, ccusage (the npm reader of the
same logs, `daily --json --offline`, installed by the Claude Code test) on the same files.

Codex: sessions of 500 turns written from the real session's line shapes in
../shared/data/real/codex (a turn: the assistant's message line, ~1 KB, and its `token_count`
with running totals and the last response's usage), beside `ccusage codex daily` on the same
files; then the folder imported again unchanged (goal: at most 5 % of the first import).

OTLP: the collector's file exporter layout, one export request of 200 spans a line, each span
with the GenAI attributes of tests/fixtures/otel/collector-export.jsonl (~1.1 KB a span).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from ingest.importers import codex, import_paths  # noqa: E402
from ingest.lake import Lake  # noqa: E402
from ingest.pipeline import ingest_frame  # noqa: E402
from ingest.pricing import PriceBook  # noqa: E402

OUT = ROOT / "bench" / "out"
CCUSAGE = ROOT / ".cache" / "ccusage" / "node_modules" / ".bin" / "ccusage"
REAL = ROOT / "tests" / "fixtures" / "claude-code" / "projects" / "-C--Users-user-CLEANROOM" / "session-basic.jsonl"
MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001"]
REPLIES_PER_SESSION = 500
COMPACT = (",", ":")  # as Claude Code writes its lines


def claude_code_logs(n: int) -> tuple[Path, int]:
    """A folder of Claude Code logs holding n replies (written once under bench/out)."""
    folder = OUT / f"claude-code-{n}"
    if (folder / "done").exists():
        return folder, n
    shutil.rmtree(folder, ignore_errors=True)
    lines = [json.loads(line) for line in REAL.read_text().splitlines()]
    user = next(r for r in lines if r["type"] == "user")
    reply = next(r for r in lines if r["type"] == "assistant" and r["message"].get("usage"))
    rng = random.Random(5)
    start = 1_767_225_600  # 2026-01-01 UTC
    for first in range(0, n, REPLIES_PER_SESSION):
        session = f"{rng.getrandbits(128):032x}"
        path = folder / "projects" / f"-home-dev-p{first // 20_000}" / f"{session}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        out = []
        for i in range(first, min(first + REPLIES_PER_SESSION, n)):
            ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + i * 20))
            out.append(json.dumps(user | {"sessionId": session, "timestamp": ts, "uuid": f"u{i}"}, separators=COMPACT))
            usage = reply["message"]["usage"] | {
                "input_tokens": rng.randrange(1, 50), "output_tokens": rng.randrange(50, 4000),
                "cache_read_input_tokens": rng.randrange(0, 150_000),
                "cache_creation_input_tokens": (cw := rng.randrange(0, 20_000)),
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": cw}}
            message = reply["message"] | {"id": f"msg_{i:012d}", "model": rng.choice(MODELS), "usage": usage}
            line = json.dumps(reply | {"sessionId": session, "timestamp": ts, "requestId": f"req_{i:012d}",
                                       "message": message, "cwd": f"/home/dev/p{first // 20_000}"}, separators=COMPACT)
            out += [line, line] if i % 10 == 0 else [line]
        path.write_text("\n".join(out) + "\n")
    (folder / "done").touch()
    return folder, n


CODEX_REAL = ROOT.parent / "shared" / "data" / "real" / "codex" / "margin" / "session-basic.jsonl"


def codex_logs(n: int) -> Path:
    """A folder of Codex sessions holding n responses (written once under bench/out)."""
    folder = OUT / f"codex-{n}"
    if (folder / "done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    lines = [json.loads(line) for line in CODEX_REAL.read_text().splitlines() if line.strip()]
    meta = next(r for r in lines if r["type"] == "session_meta")
    context = next(r for r in lines if r["type"] == "turn_context")
    message = next(r for r in lines if r["type"] == "response_item" and r["payload"].get("role") == "assistant")
    rng = random.Random(5)
    start = 1_767_225_600  # 2026-01-01 UTC
    for first in range(0, n, REPLIES_PER_SESSION):
        session = f"{rng.getrandbits(128):032x}"
        t = start + first * 20
        stamp = lambda seconds: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))  # noqa: E731
        out = [meta | {"timestamp": stamp(t), "payload": meta["payload"] | {"id": session, "session_id": session}},
               context | {"timestamp": stamp(t), "payload": context["payload"] | {"model": "gpt-5"}}]
        total = [0, 0, 0, 0]
        for i in range(min(REPLIES_PER_SESSION, n - first)):
            last = [rng.randrange(2_000, 40_000), 0, rng.randrange(50, 3_000), 0]
            last[1], last[3] = rng.randrange(last[0]), rng.randrange(last[2])
            total = [a + b for a, b in zip(total, last)]
            usage = lambda u: {"input_tokens": u[0], "cached_input_tokens": u[1], "output_tokens": u[2],  # noqa: E731
                               "reasoning_output_tokens": u[3], "total_tokens": u[0] + u[2]}
            out.append(message | {"timestamp": stamp(t + 20 * i)})
            out.append({"timestamp": stamp(t + 20 * i + 1), "type": "event_msg", "payload": {
                "type": "token_count", "info": {"total_token_usage": usage(total), "last_token_usage": usage(last)}}})
        day = folder / "sessions" / time.strftime("%Y/%m/%d", time.gmtime(t))
        day.mkdir(parents=True, exist_ok=True)
        (day / f"rollout-{session}.jsonl").write_text("\n".join(json.dumps(r, separators=COMPACT) for r in out) + "\n")
    (folder / "done").touch()
    return folder


def otlp_files(n: int) -> Path:
    """A folder of OTLP JSON trace exports holding n GenAI spans (written once under bench/out)."""
    folder = OUT / f"otlp-{n}"
    if (folder / "done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    template = json.loads((ROOT / "tests" / "fixtures" / "otel" / "collector-export.jsonl").read_text().splitlines()[0])
    resource = template["resourceSpans"][0]
    span = resource["scopeSpans"][0]["spans"][1]  # the chat span with cache reads
    rng = random.Random(9)
    start = 1_767_225_600 * 10**9
    lines, per_line, per_file = [], 200, 50_000
    for i in range(n):
        attributes = [dict(a) for a in span["attributes"]]
        for a in attributes:
            if a["key"] == "gen_ai.usage.input_tokens":
                a["value"] = {"intValue": str(rng.randrange(2_000, 60_000))}
            elif a["key"] == "gen_ai.usage.output_tokens":
                a["value"] = {"intValue": rng.randrange(10, 4_000)}
        t = start + i * 50_000_000
        lines.append(span | {"traceId": f"{i // 8:032x}", "spanId": f"{i:016x}", "attributes": attributes,
                             "startTimeUnixNano": str(t), "endTimeUnixNano": str(t + rng.randrange(10**8, 10**10))})
        if len(lines) == per_line or i == n - 1:
            request = {"resourceSpans": [resource | {"scopeSpans": [{"scope": {"name": "bench"}, "spans": lines}]}]}
            with open(folder / f"traces-{i // per_file:04d}.jsonl", "a") as f:
                f.write(json.dumps(request, separators=COMPACT) + "\n")
            lines = []
    (folder / "done").touch()
    return folder


def timed_import(folder: Path, n: int, book: PriceBook, repeat: int) -> float:
    """Median seconds to import the folder into an empty lake (after one warm-up import)."""
    def once() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            summary = import_paths(Lake(tmp), [folder], book=book)
            took = time.perf_counter() - start
            assert summary.imported == n and summary.quarantined == 0, (summary.imported, summary.errors[:3])
            return took
    once()
    return statistics.median(once() for _ in range(repeat))


def append_replies(folder: Path, n: int, round_: int, extra: Path) -> int:
    """Append n new replies to the sessions in `folder` (a few to each), and write the same lines
    as new files under `extra` (to time reading them alone). Returns how many were appended."""
    files = sorted(folder.rglob("*.jsonl"))
    per_file = max(1, n // len(files))
    written = 0
    for f, path in enumerate(files):
        if written >= n:
            break
        last = json.loads(path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])
        new = []
        for i in range(min(per_file, n - written)):
            key = f"r{round_}f{f}i{i}"
            message = last["message"] | {"id": f"msg_{key}"}
            new.append(json.dumps(last | {"requestId": f"req_{key}", "uuid": key, "message": message},
                                  separators=COMPACT))
        text = "\n".join(new) + "\n"
        with open(path, "a") as out:
            out.write(text)
        (extra / f"{f}.jsonl").write_text(text)
        written += len(new)
    return written


def bench_reimport(folder: Path, n: int, book: PriceBook, repeat: int) -> None:
    """Re-importing the folder unchanged, and after 1 % more replies were appended, into the lake of
    a first import; beside the first import and the appended replies imported alone, same run."""
    with tempfile.TemporaryDirectory() as tmp:
        logs, lake = Path(tmp) / "logs", Lake(Path(tmp) / "lake")
        shutil.copytree(folder, logs)
        start = time.perf_counter()
        assert import_paths(lake, [logs], book=book).imported == n
        first = time.perf_counter() - start
        files = len(list(logs.rglob("*.jsonl")))
        unchanged = []
        for _ in range(repeat):
            start = time.perf_counter()
            summary = import_paths(lake, [logs], book=book)
            unchanged.append(time.perf_counter() - start)
            assert (summary.imported, summary.unchanged) == (0, files)
        appended, alone, beside = [], [], []
        for round_ in range(repeat):
            extra = Path(tmp) / f"extra-{round_}"
            extra.mkdir()
            added = append_replies(logs, n // 100, round_, extra)
            twin = Path(tmp) / f"twin-{round_}"  # the lake as it is, for the new replies on their own
            shutil.copytree(lake.root, twin)
            start = time.perf_counter()
            summary = import_paths(lake, [logs], book=book)
            appended.append(time.perf_counter() - start)
            assert summary.imported == added, (summary.imported, added, summary.errors[:3])
            start = time.perf_counter()
            assert import_paths(Lake(Path(tmp) / f"alone-{round_}"), [extra], book=book, remember=False).imported == added
            alone.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert import_paths(Lake(twin), [extra], book=book, remember=False).imported == added
            beside.append(time.perf_counter() - start)
    unchanged_s, appended_s, alone_s, beside_s = map(statistics.median, (unchanged, appended, alone, beside))
    print(f"\nRe-importing the {n:,}-reply folder into the lake of a first import ({files} files; medians of {repeat})\n")
    print("| import | s | share of the first | goal |\n|---|---|---|---|")
    print(f"| first, into an empty lake | {first:.2f} | 100 % | |")
    print(f"| again, unchanged | {unchanged_s:.3f} | {unchanged_s / first:.1%} | ≤ 5 % |")
    for what, own in (("into an empty lake", alone_s), ("into the same lake (ids looked up there too)", beside_s)):
        limit = 0.05 * first + own
        print(f"| again, after {n // 100:,} replies (1 %) were appended | {appended_s:.3f} | {appended_s / first:.1%} | "
              f"≤ 5 % + those replies alone, {what} ({own:.3f} s) = {limit:.3f} s: "
              f"{'met' if appended_s <= limit else 'missed'} |")


def ccusage_row(command: str, env: dict[str, str], n: int, size: int, repeat: int) -> None:
    """ccusage reading the same files (`ccusage <command> --json --offline`; installed by the tests),
    as a row of the readers' table: median seconds, events and MB a second."""
    if not CCUSAGE.exists():
        return
    env = os.environ | {"HOME": tempfile.mkdtemp()} | env
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([str(CCUSAGE), *command.split(), "--json", "--offline", "-z", "UTC"], env=env, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    took = statistics.median(times)
    print(f"| ccusage {command} (read and sum, no lake) | {took:.2f} | {n / took:,.0f} | {size / 1e6 / took:.0f} |")


def bench_codex(n: int, book: PriceBook, repeat: int) -> None:
    """Codex sessions: Spendlake's import beside ccusage's reading, then the folder again unchanged."""
    folder = codex_logs(n)
    files = sorted(folder.rglob("*.jsonl"))
    size = sum(f.stat().st_size for f in files)
    took = timed_import(folder, n, book, repeat)
    print(f"\nCodex sessions: {n:,} responses, {size / 1e6:.0f} MB in {len(files)} files\n")
    print("| reader | s | events/s | MB/s |\n|---|---|---|---|")
    print(f"| spendlake import (read, validate, price, append) | {took:.2f} | {n / took:,.0f} | {size / 1e6 / took:.0f} |")
    ccusage_row("codex daily", {"CODEX_HOME": str(folder)}, n, size, repeat)
    raw = pl.concat([codex.parse(f).raw for f in files])  # the floor: the lake's own work on events parsed already
    lakes = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            assert ingest_frame(Lake(tmp), raw, book=book, source="bench").imported == n
            lakes.append(time.perf_counter() - start)
    floor = statistics.median(lakes)
    print(f"| the lake's part alone (validate, price, append the parsed events) | {floor:.2f} | {n / floor:,.0f} | |")
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(tmp)
        start = time.perf_counter()
        assert import_paths(lake, [folder], book=book).imported == n
        first = time.perf_counter() - start
        again = []
        for _ in range(repeat):
            start = time.perf_counter()
            assert import_paths(lake, [folder], book=book).unchanged == len(files)
            again.append(time.perf_counter() - start)
    print(f"| again, unchanged, into the same lake | {statistics.median(again):.3f} | "
          f"{statistics.median(again) / first:.1%} of the first import ({first:.2f} s; goal ≤ 5 %) | |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder, n = claude_code_logs(args.events)
    size = sum(f.stat().st_size for f in folder.rglob("*.jsonl"))
    book = PriceBook.load()
    took = timed_import(folder, n, book, args.repeat)
    print(f"Claude Code logs: {n:,} replies, {size / 1e6:.0f} MB in {len(list(folder.rglob('*.jsonl')))} files\n")
    print("| reader | s | events/s | MB/s |\n|---|---|---|---|")
    print(f"| spendlake import (read, validate, price, append) | {took:.2f} | {n / took:,.0f} | {size / 1e6 / took:.0f} |")
    ccusage_row("daily", {"CLAUDE_CONFIG_DIR": str(folder)}, n, size, args.repeat)
    bench_reimport(folder, n, book, args.repeat)
    bench_codex(args.events, book, args.repeat)
    otlp = otlp_files(args.events)
    size = sum(f.stat().st_size for f in otlp.glob("*.jsonl"))
    took = timed_import(otlp, args.events, book, args.repeat)
    print(f"\nOTLP JSON: {args.events:,} GenAI spans, {size / 1e6:.0f} MB\n")
    print("| reader | s | events/s | MB/s |\n|---|---|---|---|")
    print(f"| spendlake import | {took:.2f} | {args.events / took:,.0f} | {size / 1e6 / took:.0f} |")


if __name__ == "__main__":
    main()
