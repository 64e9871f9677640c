"""The plan as a picture: offered load against capacity, replicas, nodes, estimated p99."""

from __future__ import annotations

import math
from pathlib import Path

from mlstack.plan.simulate import Simulation


def write_png(sim: Simulation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = 4 if sim.cluster is not None else 3
    figure, axes = plt.subplots(panels, 1, figsize=(9, 2.2 * panels + 0.6), sharex=True)
    minutes = 60.0
    for series in sim.models:
        t = [x / minutes for x in series.t]
        name = series.model.name
        (line,) = axes[0].plot(t, series.offered, label=f"{name} offered", linewidth=1.6)
        capacity = [r * series.throughput for r in series.ready]
        axes[0].plot(t, capacity, linestyle="--", color=line.get_color(),
                     label=f"{name} capacity at p99 target")  # fmt: skip
        axes[1].step(t, series.desired, where="post", color=line.get_color(), linestyle=":",
                     label=f"{name} desired")  # fmt: skip
        axes[1].step(t, series.ready, where="post", color=line.get_color(), label=f"{name} ready")
        p99 = [p if not math.isnan(p) else None for p in series.p99]
        axes[panels - 1].plot(t, p99, color=line.get_color(), label=f"{name} p99 (estimated)")
    axes[0].set_ylabel("req/s")
    axes[0].set_title(f"{sim.stack.environment}: {sim.profile.text}", fontsize=10)
    axes[1].set_ylabel("replicas")
    if sim.cluster is not None:
        t = [x / minutes for x in sim.cluster.t]
        total = [r + p for r, p in zip(sim.cluster.ready, sim.cluster.provisioning, strict=True)]
        axes[2].step(t, sim.cluster.ready, where="post", color="black", label="nodes ready")
        axes[2].step(t, total, where="post", color="grey", linestyle=":",
                     label="ready + provisioning")  # fmt: skip
        axes[2].set_ylabel("nodes")
    axes[panels - 1].axhline(sim.options.p99_target_ms, color="red", linestyle="--",
                             linewidth=1, label="p99 target")  # fmt: skip
    axes[panels - 1].set_yscale("log")
    axes[panels - 1].set_ylabel("p99 ms")
    axes[panels - 1].set_xlabel("minutes")
    for axis in axes[1 : panels - 1]:
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))  # replicas, nodes
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
