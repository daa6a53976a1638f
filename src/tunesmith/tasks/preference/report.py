"""Preference results for people: how often the model prefers the chosen answer (or ranks good
answers above bad ones) on held-out data, before and after, the reward margins, samples."""

from __future__ import annotations

import html

from tunesmith.tasks.generation.report import (
    SAMPLE_TOKENS,
    GenerationReport,
    sample_lines,
    sample_section,
)

__all__ = ["SAMPLE_TOKENS", "PreferenceReport", "show"]


def show(prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def _rows(metrics: dict) -> list[tuple[str, str, str, str]]:
    """(name, key, format, what it means) of the figures shown, by method."""
    if metrics["method"] == "dpo":
        return [
            (
                "preference accuracy",
                "accuracy",
                ".1%",
                "pairs where the chosen answer is the likelier one (summed log-probability)",
            ),
            ("mean log-probability margin", "margin", "+.3f", "chosen minus rejected"),
        ]
    return [
        (
            "good above bad (AUC)",
            "accuracy",
            ".3f",
            "chance that a good completion scores above a bad one (log-probability per token)",
        ),
        ("log-probability per token, good", "desirable_logp", ".3f", ""),
        ("log-probability per token, bad", "undesirable_logp", ".3f", ""),
    ]


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


class PreferenceReport(GenerationReport):
    def headline(self, metrics):
        name = "preference accuracy" if metrics["method"] == "dpo" else "good above bad (AUC)"
        out = {f"test {name}": metrics["accuracy"]}
        if "before" in metrics:
            out[f"{name} before tuning"] = metrics["before"]["accuracy"]
        if "reward_margin" in metrics:
            out["reward margin"] = metrics["reward_margin"]
        return out

    def report_sections(self, metrics, mistakes):
        from tunesmith.evaluation.report import table

        before = metrics.get("before") or {}
        rows = [
            [name, _fmt(before.get(key), spec), _fmt(metrics.get(key), spec)]
            for name, key, spec, _ in _rows(metrics)
        ]
        notes = "; ".join(f"{name}: {why}" for name, _, _, why in _rows(metrics) if why)
        scores = table(["held-out split", "before tuning", "after"], rows)
        scores += (
            f"<p class='muted'>{metrics['method'].upper()} through TRL; {metrics['count']} "
            f"held-out rows. {html.escape(notes)}.</p>"
        )
        if "reward_margin" in metrics:
            scores += table(
                ["TRL's implicit reward, beta (log p_tuned - log p_before)", "value"],
                [
                    [k.replace("_", " "), format(metrics[k], ".1%" if "accuracy" in k else "+.4f")]
                    for k in metrics
                    if k.startswith("reward_")
                ],
            )
        return [
            ("Before and after preference tuning", scores),
            sample_section(metrics["samples"], "preferred (data)"),
        ]

    def card_details(self, metrics):
        before = metrics.get("before") or {}
        lines = ["| held-out split | before | after |", "|---|---|---|"]
        for name, key, spec, _ in _rows(metrics):
            lines.append(f"| {name} | {_fmt(before.get(key), spec)} | {_fmt(metrics[key], spec)} |")
        return "\n".join(lines)

    def describe(self, metrics):
        before = metrics.get("before")
        name, key, spec, _ = _rows(metrics)[0]
        was = f" (before tuning: {_fmt(before[key], spec)})" if before else ""
        lines = [f"  {metrics['method'].upper()}: test {name} {_fmt(metrics[key], spec)}{was}"]
        if "reward_accuracy" in metrics:
            lines.append(
                f"  reward accuracy {metrics['reward_accuracy']:.1%} (TRL's, on held-out pairs)"
            )
        if "reward_margin" in metrics:
            lines.append(
                f"  reward margin {metrics['reward_margin']:+.4f} (beta {metrics['beta']})"
            )
        return "\n".join(lines + sample_lines(metrics["samples"]))
