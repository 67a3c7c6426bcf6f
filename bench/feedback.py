"""Benchmark: feedback analysis throughput on one core (target >= 2,000 texts/s).

    python bench/feedback.py                 # 20,000 texts
    python bench/feedback.py --texts 100000

Texts are the 522 hand-written evaluation texts (ru/uk/en/da) cycled to the requested count; the
process is pinned to one CPU and BLAS threads are limited to one before numpy loads. One-time
loading (lexicons, lemma tables, the py3langid model, sklearn) is timed separately from the
steady-state rate. Wall-clock and CPU-time rates are both printed: on a shared machine the
wall-clock rate mostly measures the other processes. Three paths are measured:

- lexicon:       analyze_many(texts) - language, lexicon sentiment and tags with matched words;
- model (batch): the same with a trained char-n-gram model replacing tags and sentiment, scored
                 in batches of 1,000 (how imports and `feedback train` re-scoring run);
- model (1x1):   one text per call (how record_text runs).
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

TARGET = 2000.0
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "feedback_eval.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    records = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [records[i % len(records)]["text"] for i in range(args.texts)]

    t0 = time.perf_counter()
    from loyalist.feedback.analyzer import analyze, analyze_many
    from loyalist.feedback.analyzer.model import Sample, fit

    analyze_many([r["text"] for r in records[:: max(1, len(records) // 40)]])  # load every language once
    load_s = time.perf_counter() - t0
    print(f"one-time load (lexicons, lemma tables, py3langid): {load_s:.2f} s")

    def report(label: str, n: int, wall: float, cpu: float) -> None:
        rate = n / wall
        print(f"{label:<19} {n:>7} texts in {wall:6.2f} s = {rate:8.0f} texts/s wall, {n / cpu:8.0f} texts/s "
              f"per CPU-second [{'OK' if rate >= TARGET else 'BELOW'} target {TARGET:.0f}/s]")

    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), args.batch):
        analyze_many(texts[start:start + args.batch])
    report("lexicon path:", len(texts), time.perf_counter() - t0, time.process_time() - c0)

    t0 = time.perf_counter()
    model = fit([Sample(text=r["text"], reasons=r["reasons"], sentiment=r["sentiment"]) for r in records])
    model.use_for_tags = model.use_for_sentiment = True
    print(f"model fit on {len(records)} texts: {time.perf_counter() - t0:.2f} s (including sklearn import)")

    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), args.batch):
        analyze_many(texts[start:start + args.batch], model=model)
    report("model path (batch):", len(texts), time.perf_counter() - t0, time.process_time() - c0)

    single = texts[: min(len(texts), 5_000)]
    t0, c0 = time.perf_counter(), time.process_time()
    for text in single:
        analyze(text, model=model)
    report("model path (1x1):", len(single), time.perf_counter() - t0, time.process_time() - c0)


if __name__ == "__main__":
    main()
