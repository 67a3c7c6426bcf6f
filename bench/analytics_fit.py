"""Benchmark: our BG/NBD fitter vs lifetimes' BetaGeoFitter on CDNOW and simulated customer bases.

What it shows: both reach the same optimum (parameters and log-likelihood, the latter evaluated
with one likelihood function for both so that lifetimes' internal time rescaling does not
matter), and how much faster our fit is — mostly from compressing customers to unique
(x, t_x, T) rows and from the analytic gradient.

How it runs: every fit happens in a fresh subprocess (``--worker``) so that wall time, traced
peak memory (tracemalloc, in a second pass so that tracing overhead does not distort the time)
and process max RSS are measured the same way for both. lifetimes needs numpy<2 / pandas<2, so
it runs in its own virtual environment, created on first use at /tmp/lifetimes-venv (override
with LIFETIMES_VENV); data travel to the workers as .npz files in a temporary directory.

    python bench/analytics_fit.py                  # CDNOW, 100k, 1M
    python bench/analytics_fit.py --sizes 100000   # CDNOW and one simulated size
    python bench/analytics_fit.py --skip-lifetimes

Simulated data: BG/NBD with CDNOW's parameters, customers acquired uniformly over 52 weeks and
observed until week 78, all times on a daily grid expressed in weeks (realistic compression).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CDNOW_CSV = (ROOT / ".." / "shared" / "data" / "cdnow" / "cdnow_customers_summary.csv").resolve()
VENV = Path(os.environ.get("LIFETIMES_VENV", "/tmp/lifetimes-venv"))
LIFETIMES_REQUIREMENTS = ["lifetimes", "numpy<2", "pandas<2", "scipy<1.13"]
TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


# ----------------------------------------------------------------------------- workers
def _worker(engine: str, data_path: str, repeats: int) -> None:
    """Fit in this process and print one JSON line; imports only what the engine needs."""
    import resource
    import tracemalloc

    arrays = np.load(data_path)
    x, tx, t_obs = arrays["frequency"], arrays["recency"], arrays["T"]

    if engine.startswith("ours"):
        from loyalist.analytics import clv

        model_cls = {
            "ours": clv.BetaGeoModel,
            "ours-mbgnbd": clv.ModifiedBetaGeoModel,
            "ours-paretonbd": clv.ParetoNBDModel,
        }[engine]

        def fit() -> dict:
            model = model_cls().fit(x, tx, t_obs)
            return {
                "params": model.params_,
                "ll_reported": model.log_likelihood_,
                "unique": model.n_unique_rows_,
                "converged": model.converged_,
            }

    else:
        import warnings

        import pandas as pd
        from lifetimes import BetaGeoFitter

        warnings.filterwarnings("ignore")
        frame = pd.DataFrame({"frequency": x, "recency": tx, "T": t_obs})

        def fit() -> dict:
            model = BetaGeoFitter(penalizer_coef=0.0).fit(frame["frequency"], frame["recency"], frame["T"])
            params = {k: float(model.params_[k]) for k in ("r", "alpha", "a", "b")}
            # lifetimes keeps only a mean negative log-likelihood on internally rescaled time.
            return {"params": params, "ll_reported": -float(model._negative_log_likelihood_), "unique": None}

    times = []
    result: dict = {}
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fit()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result.update(seconds=min(times), traced_peak_mb=peak / 2**20, max_rss_mb=_peak_rss_mb(resource))
    print(json.dumps(result))


def _peak_rss_mb(resource_module: object) -> float:
    """Peak resident memory of this process.

    VmHWM from /proc is preferred: ru_maxrss survives fork+exec on Linux, so a worker would
    inherit the (large) high-water mark of the driver that spawned it.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    usage = resource_module.getrusage(resource_module.RUSAGE_SELF)  # type: ignore[attr-defined]
    return float(usage.ru_maxrss) / 1024


# ----------------------------------------------------------------------------- driver
def _ensure_lifetimes_venv() -> Path | None:
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import lifetimes, autograd"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating lifetimes environment in {VENV} (one-off) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", *LIFETIMES_REQUIREMENTS]
    if subprocess.run(pip).returncode != 0 or subprocess.run(probe, capture_output=True).returncode != 0:
        print("could not install lifetimes; benchmarking our fitter only", flush=True)
        return None
    return python


def _run_worker(python: str, engine: str, data_path: Path, repeats: int) -> dict:
    env = dict(os.environ)
    # Single-threaded BLAS for both engines: a fair, reproducible comparison on a shared machine.
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if engine == "lifetimes":
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--worker",
        engine,
        "--data",
        str(data_path),
        "--repeats",
        str(repeats),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _simulate(n: int, seed: int) -> dict[str, np.ndarray]:
    from loyalist.analytics.clv import BetaGeoModel

    rng = np.random.default_rng(seed)
    acquired_day = rng.integers(0, 52 * 7, n)
    age_days = 78 * 7 - acquired_day
    sim = BetaGeoModel.from_params(**TRUE).simulate(n, age_days / 7.0, seed=seed + 1)
    sim["recency"] = np.floor(sim["recency"] * 7.0) / 7.0  # purchases are dated to the day
    return sim


def _load_cdnow() -> dict[str, np.ndarray]:
    values = np.loadtxt(CDNOW_CSV, delimiter=",", skiprows=1)
    return {"frequency": values[:, 1], "recency": values[:, 2], "T": values[:, 3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["ours", "ours-mbgnbd", "ours-paretonbd", "lifetimes"])
    parser.add_argument("--no-other-models", action="store_true", help="skip the MBG/NBD and Pareto/NBD timings")
    parser.add_argument("--data")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.data, args.repeats)
        return

    sys.path.insert(0, str(ROOT / "src"))
    from rich.console import Console
    from rich.table import Table

    from loyalist.analytics.clv import BetaGeoModel

    console = Console(width=max(Console().width, 190))
    lifetimes_python = None if args.skip_lifetimes else _ensure_lifetimes_venv()
    datasets: list[tuple[str, dict[str, np.ndarray]]] = []
    if CDNOW_CSV.exists():
        datasets.append(("CDNOW", _load_cdnow()))
    for n in args.sizes:
        datasets.append((f"simulated {n:,}", _simulate(n, args.seed)))

    table = Table(title="BG/NBD fit: loyalist.analytics.clv vs lifetimes 0.11 BetaGeoFitter")
    for col in ("data", "customers", "unique rows", "engine", "fit s", "traced peak MB", "max RSS MB"):
        table.add_column(col, justify="right" if col not in ("data", "engine") else "left")
    for col in ("r", "alpha", "a", "b", "LL (same evaluator)", "speed-up"):
        table.add_column(col, justify="right")

    others = Table(title="Other transaction models on the same data (ours only; lifetimes not run)")
    for col in ("data", "model", "fit s", "traced peak MB", "parameters", "log-likelihood", "converged"):
        others.add_column(col, justify="left" if col in ("data", "model", "parameters") else "right")

    with tempfile.TemporaryDirectory(prefix="loyalist-bench-") as tmp:
        for name, data in datasets:
            path = Path(tmp) / "data.npz"
            np.savez(path, **data)
            n = data["frequency"].size
            repeats = 5 if n < 50_000 else (3 if n < 500_000 else 2)  # same for both engines
            console.print(f"[bold]{name}[/]: fitting ...")
            rows = [("ours", _run_worker(sys.executable, "ours", path, repeats))]
            if lifetimes_python is not None:
                rows.append(("lifetimes", _run_worker(str(lifetimes_python), "lifetimes", path, repeats)))
            base_seconds = rows[0][1]["seconds"]
            for engine, res in rows:
                evaluator = BetaGeoModel.from_params(**res["params"])
                ll = evaluator.log_likelihood(data["frequency"], data["recency"], data["T"])
                p = res["params"]
                speed = res["seconds"] / base_seconds
                table.add_row(
                    name,
                    f"{n:,}",
                    f"{rows[0][1]['unique']:,}",
                    engine,
                    f"{res['seconds']:.3f}",
                    f"{res['traced_peak_mb']:.1f}",
                    f"{res['max_rss_mb']:.0f}",
                    f"{p['r']:.4f}",
                    f"{p['alpha']:.4f}",
                    f"{p['a']:.4f}",
                    f"{p['b']:.4f}",
                    f"{ll:,.2f}",
                    "1.0x (ours)" if engine == "ours" else f"ours {speed:,.1f}x faster",
                )
            table.add_section()
            if not args.no_other_models:
                for engine, label in (("ours-mbgnbd", "MBG/NBD"), ("ours-paretonbd", "Pareto/NBD")):
                    res = _run_worker(sys.executable, engine, path, 1)
                    others.add_row(
                        name,
                        label,
                        f"{res['seconds']:.3f}",
                        f"{res['traced_peak_mb']:.1f}",
                        ", ".join(f"{k}={v:.4g}" for k, v in res["params"].items()),
                        f"{res['ll_reported']:,.2f}",
                        str(res["converged"]),
                    )
    console.print(table)
    console.print(
        "fit s = best wall time of the fit call (incl. validation and compression for ours); traced peak = "
        "tracemalloc peak during a second fit; max RSS = peak resident memory (VmHWM) of the whole worker "
        "process, interpreter and imports included; BLAS single-threaded for both. Simulated truth: "
        + ", ".join(f"{k}={v}" for k, v in TRUE.items())
    )
    if not args.no_other_models:
        console.print(others)


if __name__ == "__main__":
    main()
