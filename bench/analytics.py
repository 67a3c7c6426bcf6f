"""Benchmark: the whole `loyalist analyze` on simulated transactions.

    python bench/analytics.py                       # 100,000 customers (~1M transactions), quick
    python bench/analytics.py --customers 1000000   # the target: ~10M transactions, < 60 s, < 4 GB

Transactions come from `loyalist.analytics.simulate` (buy-till-you-die with seasonality, ~10 per
customer), written to Parquet in chunks so generation itself stays small in memory. The analysis
runs as a child process (`python -m loyalist.cli.main analyze ...`) so its wall time and peak
resident memory (getrusage of the child) are measured alone.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TARGET_SECONDS = 60.0
TARGET_BYTES = 4 * 1024**3


def generate(path: Path, customers: int, seed: int, chunk: int = 100_000) -> int:
    from loyalist.analytics.simulate import simulate_transactions

    writer = None
    rows = 0
    for i, start in enumerate(range(0, customers, chunk)):
        n = min(chunk, customers - start)
        frame = simulate_transactions(n, seed=seed + i)
        assert not isinstance(frame, tuple)
        frame["customer_id"] += start
        frame["order_id"] = f"{i}-" + frame["order_id"]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        rows += len(frame)
    assert writer is not None
    writer.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep data and output here")
    parser.add_argument("--no-charts", action="store_true")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="loyalist-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"transactions-{args.customers}.parquet"
    t0 = time.perf_counter()
    if not data.exists():
        rows = generate(data, args.customers, args.seed)
        print(f"generated {rows:,} transactions for {args.customers:,} customers in {time.perf_counter() - t0:.1f} s")
    else:
        rows = pq.ParquetFile(data).metadata.num_rows
        print(f"reusing {data} ({rows:,} transactions)")

    cmd = [sys.executable, "-m", "loyalist.cli.main", "analyze", str(data), "--out", str(work / "out")]
    if args.no_charts:
        cmd.append("--no-charts")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, sep="\n")
        print(f"analyze failed with exit code {proc.returncode}")
        return proc.returncode
    print(proc.stdout.strip())
    print(f"loyalist analyze: {rows:,} transactions, {args.customers:,} customers")
    print(f"wall time   {wall:8.1f} s   (target < {TARGET_SECONDS:.0f} s at 1M customers)")
    print(f"peak memory {peak / 1024**2:8.0f} MiB (target < {TARGET_BYTES / 1024**3:.0f} GiB)")
    ok = wall < TARGET_SECONDS and peak < TARGET_BYTES
    print("within targets" if ok else "OUTSIDE targets")
    print(f"output in {work / 'out'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
