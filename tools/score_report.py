"""`make score-report`: the quality scorer against the held-out sets of the labelled corpus.

Prints, for each held-out set separately (the original held-out half, the fresh one of
2026-12, the spam and hard-negative one of 2026-12b, the subtle-spam one of 2026-12c and
the shop-addressed one of 2026-12d, the spam and look-alike one of 2026-12e and the ones of
2026-12f to 2026-12ab written by writers who had read nothing of the scorer or the corpus,
12m of short reports, 12o mostly short entries, 12q of subscription and service shops, 12s
of survey answers after checkout, 12u a week of a shop's inbox, 12w a shop's mobile app, 12x
products tried out and tested, 12y short texts of which many are not feedback, 12z replies
to a shop's message after delivery, 12aa specific texts not about the purchase, 12ab
dictated or hastily typed entries and spam that hides what it is),
precision, recall and F1 per label (good / low / spam) and for the reward decision (good vs
not), the confusion matrix and the p99 scoring latency per entry, then the done-when figures
of issue 25 side by side, with every set pooled (their confusion matrices summed, as
versions are compared) and how many genuine entries each calls spam.
The corpus and its split: services/feedback/data/README.md. The figures in
docs/benchmarks.md ("Quality scoring") come from this script. Held-out sets are reported in
aggregate only: misclassified entries are listed for the development half alone, the only
one to tune on.

    python tools/score_report.py                      # the current scorer, every held-out set
    python tools/score_report.py --half dev --misses  # while tuning: development half only
    python tools/score_report.py --scorer old.py      # another version of scoring.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from resonanz.feedback import evaluation, scoring

EARLIER = 50  # fingerprints of a campaign's earlier entries, as the service passes them
REPEATS = 30


def load_scorer(path: str | None) -> ModuleType:
    if path is None:
        return scoring
    spec = importlib.util.spec_from_file_location("scoring_under_test", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def latencies_ms(scorer: ModuleType, rows: list[evaluation.Row],
                 clock: Callable[[], float] = time.perf_counter) -> list[list[float]]:
    """Each entry scored REPEATS times after one warm-up pass (a long-running service has
    warm per-word caches), against EARLIER fingerprints of other entries: one list of
    timings per entry. With time.thread_time as the clock, the CPU time the scorer itself
    spent, which other processes on a busy machine do not inflate."""
    others = evaluation.load("dev")[:EARLIER]
    earlier = [scorer.fingerprint(f"e{i}", row.text) for i, row in enumerate(others)]
    for row in rows:
        scorer.score_feedback(row.text, row.rating, None, earlier)
    timings: list[list[float]] = [[] for _ in rows]
    for _ in range(REPEATS):
        for row, own in zip(rows, timings, strict=True):
            started = clock()
            scorer.score_feedback(row.text, row.rating, None, earlier)
            own.append((clock() - started) * 1000)
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(scorer: ModuleType, half: str) -> dict[str, object]:
    rows = evaluation.load(half)
    result = evaluation.evaluate(
        rows, lambda row: scorer.score_feedback(row.text, row.rating, None, []).label)
    timings = latencies_ms(scorer, rows)
    # The headline is the p99 over entries of each entry's median time: on a shared machine
    # single samples also measure other processes (the raw p99 is printed beside it).
    typical = [statistics.median(own) for own in timings]
    samples = [ms for own in timings for ms in own]
    cpu = [statistics.median(own) for own in latencies_ms(scorer, rows, time.thread_time)]
    return {
        "version": scorer.VERSION, "half": half, "rows": result.rows,
        "per_label": {c: vars(f) for c, f in result.per_class.items()},
        "reward": vars(result.reward), "confusion": result.confusion,
        "latency_ms": {"p50": percentile(typical, 0.5), "p99": percentile(typical, 0.99),
                       "max": max(typical), "raw_p99": percentile(samples, 0.99),
                       "samples": len(samples), "cpu_p99": percentile(cpu, 0.99)},
        "targets_met": result.meets_targets(),
        # Held-out sets are reported in aggregate only.
        "misses": [{"text": row.text, "rating": row.rating, "label": row.label,
                    "predicted": predicted} for row, predicted in result.misses
                   if half == "dev"],
    }


def render(data: dict[str, object], misses: bool) -> str:
    lines = [f"scorer {data['version']} on {data['half']} ({data['rows']} entries)", "",
             f"{'':<16}{'precision':>10}{'recall':>8}{'F1':>7}{'support':>9}{'predicted':>10}"]
    per_label: dict[str, dict[str, float]] = data["per_label"]  # type: ignore[assignment]
    reward: dict[str, float] = data["reward"]  # type: ignore[assignment]
    for name, f in [*per_label.items(), ("reward (good)", reward)]:
        lines.append(f"{name:<16}{f['precision']:>10.3f}{f['recall']:>8.3f}{f['f1']:>7.3f}"
                     f"{int(f['support']):>9}{int(f['predicted']):>10}")
    confusion: dict[str, dict[str, int]] = data["confusion"]  # type: ignore[assignment]
    lines += ["", "confusion (rows: corpus label, columns: scorer)",
              f"{'':<8}" + "".join(f"{c:>7}" for c in evaluation.CLASSES)]
    lines += [f"{t:<8}" + "".join(f"{confusion[t][p]:>7}" for p in evaluation.CLASSES)
              for t in evaluation.CLASSES]
    latency: dict[str, float] = data["latency_ms"]  # type: ignore[assignment]
    lines += ["", f"latency per entry (median of {REPEATS} runs each): p50 {latency['p50']:.3f} ms,"
                  f" p99 {latency['p99']:.3f} ms, max {latency['max']:.3f} ms; p99 of all"
                  f" {int(latency['samples'])} single runs {latency['raw_p99']:.3f} ms;"
                  f" CPU time per entry p99 {latency['cpu_p99']:.3f} ms",
              f"targets met: {data['targets_met']}"]
    if misses:
        lines.append("")
        for miss in data["misses"]:  # type: ignore[attr-defined]
            lines.append(f"{miss['label']:>5} -> {miss['predicted']:<5} ({miss['rating']}) "
                         f"{miss['text']}")
    return "\n".join(lines)


HEADLINE_TARGETS = {"reward precision": ">= 0.90", "reward recall": ">= 0.90",
                    "spam precision": ">= 0.90", "spam recall": ">= 0.95",
                    "p99 ms per entry": "<= 2"}


def headline(data: dict[str, object]) -> dict[str, float]:
    """The figures issue 25's "done when" names."""
    reward: dict[str, float] = data["reward"]  # type: ignore[assignment]
    spam: dict[str, float] = data["per_label"]["spam"]  # type: ignore[index]
    latency: dict[str, float] = data["latency_ms"]  # type: ignore[assignment]
    return {"reward precision": reward["precision"], "reward recall": reward["recall"],
            "spam precision": spam["precision"], "spam recall": spam["recall"],
            "p99 ms per entry": latency["p99"]}


def genuine_called_spam(confusion: dict[str, dict[str, int]]) -> int:
    return confusion["good"]["spam"] + confusion["low"]["spam"]


def pooled(reports: list[dict[str, object]]) -> dict[str, object]:
    """Every set at once, their confusion matrices summed: how docs/benchmarks.md compares
    versions. Its latency is the worst set's p99."""
    classes = evaluation.CLASSES
    confusion = {t: {p: sum(data["confusion"][t][p] for data in reports)  # type: ignore[index]
                     for p in classes} for t in classes}
    reward, spam = (evaluation.figures_of(confusion, c) for c in ("good", "spam"))
    return {
        "reward precision": reward.precision, "reward recall": reward.recall,
        "spam precision": spam.precision, "spam recall": spam.recall,
        "p99 ms per entry": max(data["latency_ms"]["p99"]  # type: ignore[index]
                                for data in reports),
        "confusion": confusion,
    }


def done_when(reports: list[dict[str, object]]) -> str:
    """The done-when figures, one column per set and one for all of them pooled."""
    width = max(18, *(len(str(data["half"])) for data in reports)) + 2
    lines = ["done when (issue 25)", f"{'':<20}" + "".join(
        f"{data['half']!s:>{width}}" for data in reports) + f"{'pooled':>{width}}"
        + f"{'target':>10}"]
    figures = [*(headline(data) for data in reports), pooled(reports)]
    for name, target in HEADLINE_TARGETS.items():
        lines.append(f"{name:<20}" + "".join(f"{f[name]:>{width}.3f}" for f in figures)
                     + f"{target:>10}")
    called = [*(genuine_called_spam(data["confusion"]) for data in reports),  # type: ignore[arg-type]
              genuine_called_spam(figures[-1]["confusion"])]  # type: ignore[arg-type]
    lines.append(f"{'genuine called spam':<20}" + "".join(f"{n:>{width}}" for n in called))
    met = [all(data["targets_met"].values()) for data in reports]  # type: ignore[attr-defined]
    lines.append(f"{'all targets met':<20}" + "".join(f"{m!s:>{width}}" for m in met))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=evaluation.HALVES,
                        help="one part of the corpus (default: every held-out set)")
    parser.add_argument("--scorer", help="path of another scoring.py to measure")
    parser.add_argument("--misses", action="store_true",
                        help="list the misclassified entries (development half only)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.misses and args.half != "dev":
        parser.error("--misses lists entries of the development half only (--half dev):"
                     " held-out errors are not read row by row")
    scorer = load_scorer(args.scorer)
    reports = [report(scorer, half) for half in ([args.half] if args.half else evaluation.HELD_OUT)]
    print("\n\n".join(render(data, args.misses) for data in reports))
    if len(reports) > 1:
        print("\n" + done_when(reports))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
