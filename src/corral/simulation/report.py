"""The simulator's outputs: result.json, result.csv and the plots (PNG and SVG).

* ``result.json``: the run (workload, fleet) and each policy's summary plus its time
  series (time, utilization per class, refusals so far);
* ``result.csv``: one row per policy, the headline figures;
* ``utilization.{png,svg}``: fleet utilization per class over time, one line per policy;
* ``refusals.{png,svg}``: boots refused so far over time, one line per policy;
* ``heatmap.{png,svg}``: per policy, each host's most used share (vCPU or RAM) over time
  (hosts by name down the side; a fleet larger than HEAT_ROWS is averaged into bands).

matplotlib runs on the Agg backend: no display is needed. It is loaded by the first plot
(:func:`_pyplot`), not with this module: about 0.7 s the CLI's other commands (which
import the simulate command) do not pay.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corral.simulation.replay import PolicyResult

#: Most host rows a heat map draws; larger fleets are averaged into this many bands.
HEAT_ROWS = 400
CSV_COLUMNS = ("policy", "boots", "placed", "refused", "acceptance_rate", "empty_hosts",
               "packing_density_vcpu", "packing_density_ram", "utilization_vcpu",
               "utilization_ram", "stranded_vcpu", "stranded_ram_mb", "compaction_min_hosts",
               "latency_p50_us", "latency_p99_us", "events_per_s", "top_refusal")


def write_all(out: Path, results: Sequence[PolicyResult], run: dict[str, Any]) -> list[Path]:
    """Write every output into ``out`` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    files = [write_json(out / "result.json", results, run), write_csv(out / "result.csv", results)]
    files += plot_utilization(out, results)
    files += plot_refusals(out, results)
    files += plot_heatmap(out, results)
    return files


def write_json(path: Path, results: Sequence[PolicyResult], run: dict[str, Any]) -> Path:
    body = {"run": run, "policies": [
        {**r.summary(), "series": {"time_s": r.series_time, "utilization": r.series_util,
                                   "refused_so_far": r.series_refused}}
        for r in results]}
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def csv_row(r: PolicyResult) -> dict[str, Any]:
    s = r.summary()
    top = next(iter(r.refused_by), "")
    return {
        "policy": r.label, "boots": r.boots, "placed": r.placed, "refused": r.boots - r.placed,
        "acceptance_rate": s["acceptance_rate"], "empty_hosts": r.empty_hosts,
        "packing_density_vcpu": r.packing_density.get("VCPU"),
        "packing_density_ram": r.packing_density.get("MEMORY_MB"),
        "utilization_vcpu": r.utilization.get("VCPU"),
        "utilization_ram": r.utilization.get("MEMORY_MB"),
        "stranded_vcpu": r.stranded.get("VCPU"), "stranded_ram_mb": r.stranded.get("MEMORY_MB"),
        "compaction_min_hosts": r.compaction_hosts,
        "latency_p50_us": r.latency_us.get("p50"), "latency_p99_us": r.latency_us.get("p99"),
        "events_per_s": s["events_per_s"], "top_refusal": top}


def write_csv(path: Path, results: Sequence[PolicyResult]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in results:
            w.writerow(csv_row(r))
    return path


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path, name: str) -> list[Path]:
    plt = _pyplot()
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    for p in paths:
        fig.savefig(p, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


def _hours(r: PolicyResult) -> np.ndarray[Any, np.dtype[np.float64]]:
    t = np.asarray(r.series_time, dtype=np.float64)
    return (t - (t[0] if t.size else 0.0)) / 3600.0


def plot_utilization(out: Path, results: Sequence[PolicyResult]) -> list[Path]:
    plt = _pyplot()
    classes = [c for c in ("VCPU", "MEMORY_MB", "DISK_GB")
               if any(c in r.series_util for r in results)]
    fig, axes = plt.subplots(len(classes), 1, figsize=(9, 2.6 * max(1, len(classes))),
                             sharex=True, squeeze=False)
    for ax, rc in zip(axes[:, 0], classes, strict=True):
        for r in results:
            ax.plot(_hours(r), r.series_util.get(rc, []), label=r.label)
        ax.set_ylabel(f"{rc} used / usable")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    axes[0, 0].set_title("Fleet utilization over time")
    axes[0, 0].legend(loc="lower right", fontsize="small")
    axes[-1, 0].set_xlabel("hours since the first event")
    return _save(fig, out, "utilization")


def plot_refusals(out: Path, results: Sequence[PolicyResult]) -> list[Path]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for r in results:
        ax.plot(_hours(r), r.series_refused, label=r.label)
    ax.set_title("Boots refused so far (no valid host)")
    ax.set_xlabel("hours since the first event")
    ax.set_ylabel("refused boots")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return _save(fig, out, "refusals")


def plot_heatmap(out: Path, results: Sequence[PolicyResult]) -> list[Path]:
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.5), squeeze=False)
    image = None
    for ax, r in zip(axes[0], results, strict=True):
        heat = r.heat.T  # hosts x samples
        if heat.shape[0] > HEAT_ROWS:
            bands = np.array_split(np.arange(heat.shape[0]), HEAT_ROWS)
            heat = np.vstack([heat[b].mean(axis=0) for b in bands])
        hours = _hours(r)
        extent = (0.0, float(hours[-1]) if hours.size else 1.0, float(r.hosts), 0.0)
        image = ax.imshow(heat, aspect="auto", interpolation="nearest", cmap="viridis",
                          vmin=0, vmax=1, extent=extent)
        ax.set_title(r.label, fontsize="medium")
        ax.set_xlabel("hours")
    axes[0, 0].set_ylabel("hosts (by name)")
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label="most used share (vCPU or RAM)")
    return _save(fig, out, "heatmap")
