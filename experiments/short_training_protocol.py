"""Issue #20: how well does each short-training protocol predict long training?

Fixed (and committed) before any network below was trained:

* **Networks**: 40 NAS-Bench-201 dev cells (connected ones, a seeded draw from
  ``nb201_cifar10_dev.csv``, target ``cifar10_test_acc``, 200 epochs) and 40 NAS-Bench-Macro
  dev networks (a seeded draw from ``nbmacro_cifar10_dev.csv``, target ``cifar10_test_acc``).
* **Protocols**: every protocol of :mod:`ntknas.protocols` (``reduced-10k``, ``reduced-30k``,
  ``reduced-90k``; ``reduced-32px-30k`` added, before it ran, once the first two were measured;
  ``reduced-180k`` added, before it ran, once the first four were measured: none reached τ 0.6
  and τ rose with the images seen, so the next budget doubles them; ``reduced-350k`` (the whole
  training split × 7 epochs) added, before it ran, once ``reduced-180k`` reached τ 0.6 on
  NAS-Bench-201 (0.63) but not on NAS-Bench-Macro (0.53): the next doubling, still expected
  under 5 CPU-minutes per network with channels-last training, now the default),
  each network trained once per protocol (seed 0) on real CIFAR-10 (train
  split), evaluated on a fixed 2,000-image subset of the test split, one thread per process.
* **Measure**: Kendall τ (and Spearman ρ) of the protocol's final accuracy against the table's,
  with a 1,000-resample bootstrap 95 % interval; CPU minutes per network (median, the training
  process's CPU time, one thread).
* **The default of ``ntknas validate``**: the cheapest protocol with τ ≥ 0.6 on both tables;
  if none reaches it, the most expensive one measured (more training is expected to agree
  better; choosing the best τ among three would fit the protocol to these 80 networks).

Run (two shards in parallel on two cores, then the summary)::

    python experiments/short_training_protocol.py --data ../shared/data \\
        --cifar10 ~/.cache/ntknas/cifar10-jpeg --shard 0/2 &
    python experiments/short_training_protocol.py ... --shard 1/2; wait
    python experiments/short_training_protocol.py --data ../shared/data --summarize

Runs are appended to ``--out/runs.jsonl`` (one line per network × protocol, resumable); the
summary goes to ``--out/protocol.md`` and ``protocol.json``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import statistics
from pathlib import Path
from typing import Any

import torch

from ntknas.bench.table import read_table
from ntknas.correlate import correlation_row
from ntknas.data import load_dataset
from ntknas.protocols import PROTOCOLS, get_protocol, list_protocols
from ntknas.study import build_trained_model
from ntknas.train import train_short
from search_spaces import create_search_space

TABLES = {
    "nb201": ("nb201/nb201_cifar10_dev.csv", "cifar10_test_acc"),
    "nbmacro": ("nbmacro/nbmacro_cifar10_dev.csv", "cifar10_test_acc"),
}
TRAIN_DEFAULTS = {name: p.default for name, p in inspect.signature(train_short).parameters.items()}
N_NETWORKS = 40
SEED = 0


def networks(data: Path, space_name: str, n: int = N_NETWORKS) -> list[tuple[str, float]]:
    """The seeded draw of ``n`` (arch, table accuracy) rows of a space's dev table."""
    path, target = TABLES[space_name]
    table = read_table(data / path, target, space=space_name)
    space = create_search_space(space_name)
    rows = sorted(set(table.rows()))
    if space_name == "nb201":
        rows = [r for r in rows if not space.is_disconnected(r[0])]
    return random.Random(SEED).sample(rows, n)


def run_shard(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    index, count = (int(v) for v in args.shard.split("/"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs.jsonl"
    done = set()
    if runs.is_file():
        for line in runs.read_text().splitlines():
            r = json.loads(line)
            done.add((r["space"], r["arch"], r["protocol"]))
    source = f"imagefolder:{args.cifar10}"
    train_data = load_dataset(source, split="train")
    test_data = load_dataset(source, split="test")
    jobs = [
        (space, arch, protocol)
        for protocol in args.protocols
        for space in args.spaces
        for arch, _ in networks(Path(args.data), space)
    ]
    for position, (space_name, arch, protocol_name) in enumerate(jobs):
        if position % count != index or (space_name, arch, protocol_name) in done:
            continue
        protocol = get_protocol(protocol_name)
        settings = protocol.settings(space_name)
        space_options = settings.pop("space_options")
        space = create_search_space(space_name)
        model = build_trained_model(space, arch, 10, seed=SEED, space_options=space_options)
        result = train_short(model, train_data, test_data, seed=SEED, **settings)
        record = {
            "space": space_name,
            "arch": arch,
            "protocol": protocol_name,
            "accuracy": result.final_accuracy,
            "epoch_accuracies": result.epoch_accuracies,
            "cpu_seconds": round(result.cpu_seconds, 2),
            "channels_last": settings.get("channels_last", TRAIN_DEFAULTS["channels_last"]),
            "seconds": round(result.seconds, 2),
        }
        with runs.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(
            f"[{position + 1}/{len(jobs)}] {space_name} {protocol_name} {arch} "
            f"{result.final_accuracy:.2f}% {result.cpu_seconds:.1f} CPU-s",
            flush=True,
        )


def summarize(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    summary: dict[str, Any] = {"protocols": {}, "n_networks": N_NETWORKS, "seed": SEED}
    for protocol_name in list_protocols():
        entry: dict[str, Any] = {"settings": PROTOCOLS[protocol_name].train}
        for space_name in TABLES:
            table = dict(networks(Path(args.data), space_name))
            got = {
                r["arch"]: r
                for r in runs
                if r["space"] == space_name and r["protocol"] == protocol_name
            }
            archs = [a for a in table if a in got]
            if len(archs) < 3:
                continue
            row = correlation_row(
                [got[a]["accuracy"] for a in archs],
                [table[a] for a in archs],
                k=max(1, len(archs) // 5),
                bootstrap=1000,
                seed=0,
            )
            row["cpu_minutes_median"] = statistics.median(got[a]["cpu_seconds"] / 60 for a in archs)
            row["cpu_minutes_max"] = max(got[a]["cpu_seconds"] / 60 for a in archs)
            row["short_accuracy_range"] = [
                min(got[a]["accuracy"] for a in archs),
                max(got[a]["accuracy"] for a in archs),
            ]
            entry[space_name] = row
        summary["protocols"][protocol_name] = entry
    measured = [
        p
        for p in list_protocols()
        if all(
            summary["protocols"][p].get(s, {}).get("n") == N_NETWORKS for s in TABLES
        )  # measured on every network of both tables; a partial run does not count
    ]
    reaching = [
        p for p in measured if all(summary["protocols"][p][s]["kendall_tau"] >= 0.6 for s in TABLES)
    ]

    def cost(p: str) -> float:  # measured CPU minutes per network, both tables
        return sum(summary["protocols"][p][s]["cpu_minutes_median"] for s in TABLES)

    by_cost = sorted(measured, key=cost)
    reaching.sort(key=cost)
    summary["default"] = reaching[0] if reaching else (by_cost[-1] if by_cost else None)
    summary["default_rule"] = "cheapest with τ ≥ 0.6 on both tables, else the most expensive"
    (out / "protocol.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [
        "| protocol | table | n | Kendall τ [95 % CI] | Spearman ρ [95 % CI] "
        "| CPU-min/network (median, max) | short-training accuracy range |",
        "|---|---|---|---|---|---|---|",
    ]
    for p, entry in summary["protocols"].items():
        for s in TABLES:
            if s not in entry:
                continue
            r = entry[s]
            lines.append(
                f"| `{p}` | {s} | {r['n']} | {r['kendall_tau']:.3f} "
                f"[{r['kendall_tau_lo']:.2f}, {r['kendall_tau_hi']:.2f}] | "
                f"{r['spearman_rho']:.3f} [{r['spearman_rho_lo']:.2f}, "
                f"{r['spearman_rho_hi']:.2f}] | {r['cpu_minutes_median']:.2f}, "
                f"{r['cpu_minutes_max']:.2f} | {r['short_accuracy_range'][0]:.1f}–"
                f"{r['short_accuracy_range'][1]:.1f} % |"
            )
    lines.append("")
    lines.append(
        f"Default by the committed rule ({summary['default_rule']}): `{summary['default']}`"
    )
    (out / "protocol.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the ../shared/data folder")
    parser.add_argument("--cifar10", help="the extracted CIFAR-10 image tree (train/, test/)")
    parser.add_argument("--out", default="results/validate/protocol")
    parser.add_argument("--shard", default="0/1", help="i/k: run every k-th job from the i-th")
    parser.add_argument("--protocols", nargs="+", default=list_protocols())
    parser.add_argument("--spaces", nargs="+", default=list(TABLES))
    parser.add_argument("--summarize", action="store_true")
    args = parser.parse_args()
    if args.summarize:
        summarize(args)
    else:
        if not args.cifar10:
            parser.error("--cifar10 is needed to train")
        run_shard(args)


if __name__ == "__main__":
    main()
