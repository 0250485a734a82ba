"""`dla-explorer report RESULTS_DIR`: a self-contained HTML report (images embedded) and a
Markdown summary (images beside it in figures/) of an experiment's results."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dla_explorer.core.fileio import atomic_open, write_text_atomic
from dla_explorer.study import analysis, plots

CAPTIONS = {
    "throughput": "Throughput of every model, memory system and mode at the headline sparsity.",
    "speedup_vs_sparsity": "Where the gains come from, against sparsity: packing (left), HBM2's "
    "bandwidth (middle; dotted: without packing), and what packing costs: "
    "the weights its conflicts prune (right).",
    "layer_latency": "Per-layer latency of packed ResNet-50, split into compute and the memory "
    "time that double buffering does not hide.",
    "roofline": "Roofline of both memory systems with ResNet-50's packed layers placed on it.",
    "buffer_sensitivity": "HBM2's gain over DDR4 depends on whether feature maps spill: with a "
    "small stream buffer the DDR4 design is memory-bound.",
    "utilisation": "MAC utilisation per layer before and after packing.",
    "pareto": "The design-space search: every trial, and the Pareto front of frames/s against power.",
}
TABLE_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td.text, th:first-child { text-align: left; }
img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; margin-bottom: 1.5em; }
.note { color: #555; font-size: 0.9em; }
"""


def _figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _fmt(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "–"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)

    def cell(value) -> str:
        kind = ' class="text"' if isinstance(value, str) else ""
        return f"<td{kind}>{html.escape(_fmt(value))}</td>"

    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in frame.itertuples(False))
    return f"<table><tr>{head}</tr>{body}</table>"


def design_table(results: analysis.Results) -> pd.DataFrame:
    frame = results.comparison[np.isclose(results.comparison.sparsity, results.headline)]
    table = pd.DataFrame(
        {
            "model": frame["model"],
            "memory": frame["memory"],
            "mode": frame["mode"],
            "frames/s": frame["fps"],
            "latency (ms)": frame["latency_s"] * 1e3,
            "power (W)": frame["power_w"],
            "frames/s/W": frame["fps_per_w"],
            "MAC util.": frame["utilization"],
            "DRAM (MB/frame)": frame["dram_mb_per_frame"],
            "memory-bound time": frame["memory_bound_share"],
            "bound": frame["bound"],
        }
    )
    return table.reset_index(drop=True)


def baseline_table(results: analysis.Results) -> pd.DataFrame:
    frame = results.baselines
    return pd.DataFrame(
        {
            "model": frame["model"],
            "baseline": frame["baseline"],
            "kind": frame["kind"],
            "frames/s": frame["fps"],
            "power (W)": frame.get("power_w"),
            "frames/s/W": frame.get("fps_per_w"),
        }
    )


def search_table(results: analysis.Results, rows: int = 8) -> pd.DataFrame:
    front = analysis.search_pareto(results)
    if front.empty:
        return front
    keep = [
        c
        for c in (
            "k_vec",
            "c_vec",
            "q_vec",
            "lanes",
            "clock_mhz",
            "stream_buffer_kb",
            "alpha",
            "mem_channels",
            "fps",
            "power_w",
            "fps_per_w",
            "dsp",
            "m20k",
        )
        if c in front
    ]
    picks = np.unique(np.linspace(0, len(front) - 1, min(rows, len(front))).round().astype(int))
    return front.iloc[picks][keep].reset_index(drop=True)


def summary(results: analysis.Results) -> list[str]:
    """A few sentences per model: where the time goes and what packing and HBM2 buy."""
    spec, lines = results.spec, []
    curves = analysis.sparsity_curves(results).set_index(["model", "sparsity"])
    ddr4 = spec["ddr4_designs"][0]
    frame = results.comparison
    for model in spec["models"]:
        at = (
            np.isclose(frame.sparsity, results.headline)
            & (frame.model == model)
            & (frame["mode"] == "packed")
        )
        on_ddr4 = frame[at & (frame.design == ddr4)].iloc[0]
        on_hbm2 = frame[at & (frame.design == spec["hbm2_design"])].iloc[0]
        curve = curves.loc[(model, results.headline)]
        lines.append(
            f"{plots.MODEL_LABELS.get(model, model)} at {results.headline:.0%} sparsity: packing "
            f"runs {curve.packed_over_unpacked:.1f}x faster than the unpacked sparse model on "
            f"HBM2 (MAC utilisation {on_hbm2.utilization:.0%}). On {on_ddr4['memory']} the packed "
            f"design spends {on_ddr4.memory_bound_share:.0%} of its time in memory-bound layers "
            f"({on_ddr4.dram_mb_per_frame:.1f} MB of DRAM traffic a frame); HBM2 lifts that and "
            f"gives {curve.hbm2_over_ddr4:.2f}x ({on_hbm2.fps:,.0f} frames/s, "
            f"{on_hbm2.fps_per_w:.1f} frames/s/W)."
        )
    return lines


def write_report(folder: str | Path) -> tuple[Path, Path]:
    """Write report.html (self-contained) and report.md (+ figures/) into the results folder."""
    results = analysis.load(folder)
    folder = results.folder
    figures = {}
    for name, make in plots.FIGURES.items():
        fig = make(results)
        if fig is not None:
            figures[name] = _figure_png(fig)
    (folder / "figures").mkdir(exist_ok=True)
    for name, png in figures.items():
        with atomic_open(folder / "figures" / f"{name}.png", "wb") as handle:
            handle.write(png)
    speedups = analysis.speedups(results)
    speedup_view = speedups.rename(
        columns={
            "ours_over_paper": "ours / paper",
            "explained_in_validation": "> 30% off: see docs/validation.md",
        }
    )
    sections = [
        ("Comparison with the reference work", speedup_view),
        (f"Designs at {results.headline:.0%} sparsity", design_table(results)),
        ("CPU and GPU baselines", baseline_table(results)),
        ("Search: designs on the Pareto front", search_table(results)),
    ]
    title = f"dla-explorer report: {results.spec['name']}"
    intro = (
        f"{results.spec.get('description', '')}. Device {results.spec['device']}, batch "
        f"{results.spec['batch']}, run size '{results.record.get('size')}', "
        f"{results.record.get('seconds')} s."
    )
    md = [f"# {title}", "", intro, "", *[f"- {line}" for line in summary(results)], ""]
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
        "<ul>",
        *[f"<li>{html.escape(line)}</li>" for line in summary(results)],
        "</ul>",
    ]
    for heading, table in sections:
        if table.empty:
            continue
        md += [f"## {heading}", "", markdown_table(table), ""]
        body += [f"<h2>{html.escape(heading)}</h2>", html_table(table)]
    md += ["## Figures", ""]
    body.append("<h2>Figures</h2>")
    for name, png in figures.items():
        md += [f"![{name}](figures/{name}.png)", "", f"*{CAPTIONS[name]}*", ""]
        encoded = base64.b64encode(png).decode()
        body.append(
            f'<figure><img alt="{name}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(CAPTIONS[name])}</figcaption></figure>"
        )
    note = (
        "Ratios more than 30% away from the paper's are explained in docs/validation.md. "
        "Every coefficient is in hw_configs/ and docs/model.md."
    )
    md.append(note)
    body.append(f'<p class="note">{html.escape(note)}</p>')
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{TABLE_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    html_path, md_path = folder / "report.html", folder / "report.md"
    write_text_atomic(html_path, page)
    write_text_atomic(md_path, "\n".join(md) + "\n")
    return html_path, md_path
