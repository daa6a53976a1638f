"""The data doctor's report: a few lines for the terminal, data_report.json and data_report.html,
and suspect rows as Label Studio tasks for review."""

from __future__ import annotations

import html
import json
from pathlib import Path

MARKS = {"error": "x", "warning": "!", "info": "-"}


def format_text(report: dict) -> str:
    labels = report.get("labels", {})
    from tunesmith import tasks

    kind = tasks.get(report["task"]).label_noun
    lines = [
        f"{report['source']}: {report['rows_read']} rows read, {report['rows_kept']} usable; "
        f"task {report['task']}",
        "  columns: " + ", ".join(f"{r} = {n!r}" for r, n in report["columns"].items()),
        *(f"  {note}" for note in report["notes"]),
        f"  {kind} ({len(labels)}): "
        + ", ".join(f"{k} {v}" for k, v in list(labels.items())[:15])
        + (" ..." if len(labels) > 15 else ""),
    ]
    if "rows_without_label" in report:  # multi-label: an empty set is a valid answer
        lines.append(f"  rows with no label: {report['rows_without_label']}")
    if report.get("held_out"):
        given = report["held_out"].items()
        lines.append("  your own splits: " + ", ".join(f"{k} {v} rows" for k, v in given))
    if "chars" in report:
        chars = report["chars"]
        lines.append(
            f"  text length: characters p50 {chars['p50']}, p90 {chars['p90']}, "
            f"max {chars['max']}"
            + (f"; Chinese {report['chinese_share']:.0%}" if "chinese_share" in report else "")
        )
    if "tokens" in report:
        tokens = report["tokens"]
        lines.append(
            f"  model {report['model']}: tokens p50 {tokens['p50']}, p90 {tokens['p90']}, "
            f"max {tokens['max']}; {tokens['truncated_share']:.1%} cut at "
            f"{tokens['max_length']}; {tokens['unknown_share']:.1%} unknown"
        )
    for name, value in report.get("annotation", {}).get("agreement", {}).items():
        lines.append(f"  annotator agreement on {name!r}: {value:.0%}")
    findings = report["findings"]
    if findings:
        lines.append("Findings:")
    for finding in findings:
        lines.append(f"  {MARKS[finding['severity']]} {finding['message']}")
        if finding["check"] == "possible label errors":  # the most suspect, not 3 of them
            lines += _suspects(report["label_issues"])
        elif finding["rows"]:
            more = " ..." if len(finding["rows"]) > 3 else ""
            lines.append(f"      rows: {'; '.join(finding['rows'][:3])}{more}")
        lines.append(f"      fix: {finding['fix']}")
    if not findings:
        lines.append("No problems found.")
    errors = sum(f["severity"] == "error" for f in findings)
    if errors:
        lines.append(f"{errors} problem(s) marked x stop `tunesmith train` until fixed.")
    return "\n".join(lines)


TERMINAL_SUSPECTS = 20  # the HTML report lists up to HTML_SUSPECTS, the JSON all that are kept
HTML_SUSPECTS = 200


def _suspects(issues: list[dict]) -> list[str]:
    lines = [
        f"      {i['where']}: {i['label']!r} -> {i['suggested']!r} "
        f"(p(given label) {i['given_probability']:.2f})"
        for i in issues[:TERMINAL_SUSPECTS]
    ]
    if len(issues) > TERMINAL_SUSPECTS:
        lines.append(f"      ... {len(issues) - TERMINAL_SUSPECTS} more in data_report.html/json")
    return lines


def write_reports(report: dict, folder: Path) -> list[Path]:
    from tunesmith.run_dir import write_atomic, write_json

    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "data_report.json", folder / "data_report.html"
    write_json(json_path, report)
    write_atomic(html_path, to_html(report))
    return [json_path, html_path]


def to_html(report: dict) -> str:
    def esc(value) -> str:
        return html.escape(str(value))

    colour = {"error": "#b00020", "warning": "#a15c00", "info": "#555"}
    findings = "".join(
        f'<li><b style="color:{colour[f["severity"]]}">{esc(f["severity"])}</b> '
        f"{esc(f['message'])}<br><i>fix:</i> {esc(f['fix'])}"
        + (f"<br><small>{esc('; '.join(f['rows']))}</small>" if f["rows"] else "")
        + "</li>"
        for f in report["findings"]
    )
    labels = report.get("labels", {})
    largest = max(labels.values(), default=1)
    bars = "".join(
        f"<tr><td>{esc(k)}</td><td>{v}</td><td><div style='background:#4c78a8;height:1em;"
        f"width:{300 * v / largest:.0f}px'></div></td></tr>"
        for k, v in labels.items()
    )
    issues = "".join(
        f"<tr><td>{esc(i['where'])}</td><td>{esc(i['text'][:200])}</td><td>{esc(i['label'])}"
        f"</td><td>{i['given_probability']:.2f}</td><td>{esc(i['suggested'])}</td>"
        f"<td>{i['score']:.2f}</td></tr>"
        for i in report.get("label_issues", [])[:HTML_SUSPECTS]
    )
    issue_table = (
        "<h2>Possible label errors</h2><p>Most suspect first (lowest out-of-fold probability "
        f"of the given label); {min(len(report['label_issues']), HTML_SUSPECTS)} of "
        f"{len(report['label_issues'])} shown.</p><table><tr><th>where</th><th>text</th>"
        "<th>label</th><th>p(label)</th><th>looks like</th><th>p(looks like)</th></tr>"
        f"{issues}</table>"
        if issues
        else ""
    )
    facts = {k: v for k, v in report.items() if isinstance(v, (str, int, float))}
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in facts.items())
    notes = "".join(f"<li>{esc(n)}</li>" for n in report["notes"]) or "<li>none</li>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Data report: {esc(report["source"])}</title><style>body{{font-family:system-ui,sans-serif;
max-width:960px;margin:2em auto;padding:0 1em}}td,th{{border:1px solid #ccc;padding:.2em .5em;
text-align:left}}table{{border-collapse:collapse}}li{{margin:.4em 0}}</style></head><body>
<h1>Data report: {esc(report["source"])}</h1>
<h2>Findings</h2><ul>{findings or "<li>No problems found.</li>"}</ul>
<h2>Labels</h2><table>{bars}</table>
<h2>Cleaning</h2><ul>{notes}</ul>
<h2>Facts</h2><table>{rows}</table>
{issue_table}
<h2>Everything (JSON)</h2><pre>{esc(json.dumps(report, ensure_ascii=False, indent=1))}</pre>
</body></html>"""


def export_label_studio(report: dict, path: Path) -> int:
    """Write the suspect rows as Label Studio tasks; returns how many."""
    from tunesmith.data.label_studio import review_tasks
    from tunesmith.run_dir import write_json

    tasks = review_tasks(report.get("label_issues", []))
    write_json(path, tasks)
    return len(tasks)
