"""report.html: one self-contained page (images embedded) that says how good the model is."""

from __future__ import annotations

import base64
import html
from pathlib import Path

STYLE = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;
padding:.3em .6em;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{
text-align:left}.big{font-size:1.6em;font-weight:600}.card{display:inline-block;margin:0 2em 1em 0}
img{max-width:100%}pre{background:#f6f6f6;padding:1em;overflow:auto}.muted{color:#666}"""


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def per_class_table(metrics: dict) -> str:
    return table(
        ["class", "precision", "recall", "F1", "support"],
        [
            [n, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"]]
            for n, m in metrics["per_class"].items()
        ],
    )


def mistakes_table(mistakes: list[dict]) -> str:
    if not mistakes:
        return "<p>No mistakes on the test split.</p>"
    return table(
        ["row", "text", "true", "predicted", "score"],
        [
            [m["row"], m["input"][:200], m["label"], m["predicted"], f"{m['score']:.2f}"]
            for m in mistakes
        ],
    )


def throughput_section(figures: dict) -> str:
    """How hard training used the machine (training/throughput.py), with how it was measured."""
    unit = figures["unit"]
    rows = [
        ["training steps (validation and saving excluded)", f"{figures['seconds']:.1f} s"],
        [f"{unit} a second", f"{figures['examples_per_second']:,.1f}"],
    ]
    if "tokens_per_second" in figures:
        rows.append(
            ["tokens a second (real tokens, not padding)", f"{figures['tokens_per_second']:,.0f}"]
        )
    per = next((k for k in ("flops_per_token", "flops_per_example") if k in figures), None)
    if per:
        rows.append([per.replace("_", " ").replace("flops", "FLOPs"), f"{figures[per]:,.0f}"])
        rows.append(["achieved", f"{figures['achieved_gflops']:,.1f} GFLOP/s"])
    if "share_of_peak" in figures:
        rows.append(
            [
                "share of the estimated peak",
                f"{figures['share_of_peak']:.1%} of an estimated "
                f"{figures['peak_gflops']:,.0f} GFLOP/s: {figures['peak_basis']}",
            ]
        )
    how = (
        "FLOPs: PyTorch's FlopCounterMode on the first training step (matrix products, forward "
        "and backward, as this model trains), times the tokens or examples of all steps. "
        "The peak is an estimate from the device's datasheet or the CPU's threads, clock and "
        "instruction set; a share well below it is usual for small batches and models."
        if per
        else "The model's FLOPs were not measured (a compiled model), so there is no share "
        "of the peak."
    )
    return table(["", ""], rows) + f'<p class="muted">{html.escape(how)}</p>'


def write_report(
    path: Path,
    *,
    title: str,
    summary: dict,
    headline: dict[str, float],
    sections: list[tuple[str, str]],
    plots: dict,
    notes: list[str],
    config_yaml: str,
) -> Path:
    """`sections`: the task's own (title, HTML) parts (tasks/base.py `report_sections`)."""
    cards = "".join(
        f'<div class="card"><div class="big">{value:.3f}</div>{html.escape(name)}</div>'
        for name, value in headline.items()
    )
    facts = table(["", ""], [[k, v] for k, v in summary.items()])
    images = "".join(f"<h3>{html.escape(t)}</h3>{_image(p)}" for t, p in plots.items())
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes) or "<li>none</li>"
    middle = "".join(f"<h2>{html.escape(title)}</h2>{body}" for title, body in sections)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="muted">Scores are on the held-out test split, which training and model selection
never saw.</p>{cards}
{middle}
<h2>Plots</h2>{images}
<h2>The run</h2>{facts}
<h2>Data notes</h2><ul>{notes_html}</ul>
<p>The data doctor's findings (duplicates, leakage, likely label errors):
<a href="data_report.html">data_report.html</a></p>
<h2>Resolved configuration</h2><pre>{html.escape(config_yaml)}</pre>
</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path


def set_section(path: Path, key: str, title: str, body: str) -> None:
    """Put a section measured after training (parity) into a written report, replacing the
    earlier one of the same `key`, before the plots."""
    import re

    from tunesmith.run_dir import write_atomic

    page = path.read_text(encoding="utf-8")
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    block = f"{start}<h2>{html.escape(title)}</h2>{body}{end}\n"
    if start in page:
        earlier = f"{re.escape(start)}.*?{re.escape(end)}\n?"
        page = re.sub(earlier, lambda _: block, page, flags=re.S)
    else:
        page = page.replace("<h2>Plots</h2>", block + "<h2>Plots</h2>", 1)
    write_atomic(path, page)
