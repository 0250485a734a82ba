"""`dla-explorer report RESULTS_DIR [OTHER_DIR]`: a self-contained HTML report and a Markdown
summary of a results folder (an experiment of `run`, or a `search` / `sweep` folder).

report.html is one file that works offline: the static figures embedded as PNG, the tables
sortable, and the interactive design explorer (plotly's JavaScript embedded, the designs and their
per-layer drill-downs as JSON in the page). report.md links the figures saved beside it in
figures/ (PNG at 300 dpi, and SVG / PDF on request) for papers.

With two folders, the report sets them side by side: what changed between two runs or two design
choices, with the differences highlighted.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import dla_explorer
from dla_explorer.core.errors import DlaError, UsageError
from dla_explorer.core.fileio import as_path, atomic_open, write_text_atomic
from dla_explorer.dse.results import read_spec_record
from dla_explorer.sim import config as hw
from dla_explorer.study import analysis, dram_figure, explorer, plots
from dla_explorer.study.records import RECORD, tool_version

__all__ = [
    "parse_formats",
    "summary",
    "write_comparison",
    "write_report",
]

_FORMATS = ("png", "svg", "pdf")
_PAPER_DPI = 300  # the PNGs in figures/ (print resolution)
_PAGE_DPI = 110  # the PNGs embedded in report.html (screen resolution keeps the page small)
_REFERENCE = {
    "title": "Optimized FPGA-based Deep Learning Accelerator for Sparse CNN using High Bandwidth Memory",
    "venue": "IEEE FCCM 2021 (Field-Programmable Custom Computing Machines)",
    "year": 2021,
    "link": "https://acemap.info/paper/63302066",
}
# What each figure's numbers rest on. The simulator is analytical today (level 0) with no
# uncertainty bands; a results table that carries `fidelity` / `*_lo`, `*_hi` columns says so.
# what each memory fidelity level is (docs/dram.md#fidelity-levels): a table's `fidelity`
# column (written by simulate and simulate_batch) says which its numbers were computed at
_FIDELITY_TEXT = {
    0: "level 0 (analytical model with a flat DRAM controller efficiency)",
    1: "level 1 (analytical model with DRAM efficiency per traffic class from the cycle model)",
    2: "level 2 (every DRAM request replayed through the cycle model)",
}
# tables written before the column: level 1 was the default since the cycle model, level 0 before
_UNRECORDED_FIDELITY = "memory fidelity not recorded in the table"
_DOCS = ("model.md", "validation.md", "cli.md")

_CAPTIONS = {
    "throughput": "Throughput of every model, memory system and mode at the headline sparsity "
    "(values on the bars).",
    "speedup_vs_sparsity": "Where the gains come from, against sparsity: packing (left), HBM2's "
    "bandwidth (middle; dotted: without packing; dashed: the paper's ratios), and what packing "
    "costs: the weights its conflicts prune (right).",
    "layer_latency": "Per-layer latency of packed ResNet-50 on each memory system, split into "
    "compute and the memory time that double buffering does not hide.",
    "roofline": "Roofline of the three memory systems with ResNet-50's packed layers placed on "
    "each (one marker shape per memory system; the axes span the data).",
    "buffer_sensitivity": "HBM2's gain over DDR4 against the stream-buffer size: with a small "
    "buffer feature maps spill and the DDR4 design is memory-bound. The star marks the design's "
    "own buffer; dashed lines are the paper's ratios.",
    "utilisation": "MAC utilisation per layer before and after packing (depthwise layers marked).",
    "pareto": "The design-space search: every trial, and the Pareto front of frames/s against power.",
}
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222;
       padding: 0 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td.text, th:first-child { text-align: left; }
table.sortable th, #front-table th { cursor: pointer; user-select: none; }
th[data-order="asc"]::after { content: " ▲"; } th[data-order="desc"]::after { content: " ▼"; }
#front-table tbody tr { cursor: pointer; } #front-table tbody tr:hover { background: #fff3d6; }
.scroll { overflow-x: auto; max-height: 32em; overflow-y: auto; }
img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; margin-bottom: 1.5em; }
.note, .fidelity { color: #555; font-size: 0.9em; }
.provenance { background: #f7f7f7; border-left: 4px solid #0072B2; padding: 0.5em 1em; }
.controls { display: flex; gap: 1.5em; align-items: center; flex-wrap: wrap; margin: 0.5em 0; }
#sliders { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 0.3em 2em;
           font-size: 0.9em; }
.slider input { width: 140px; vertical-align: middle; }
#drill { border-top: 2px solid #0072B2; margin-top: 1.5em; padding-top: 0.5em; }
#drill-summary { display: flex; gap: 2em; flex-wrap: wrap; }
#drill-time, #drill-traffic, #drill-util { height: 340px; }
td.changed { background: #fde0c5; font-weight: 600; }
.compare { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
"""


# -- formatting ----------------------------------------------------------------------------------


def _fmt(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if np.isnan(number):
            return "–"
        return f"{number:,.2f}" if abs(number) < 100 else f"{number:,.0f}"
    return str(value)


def _markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (numbers formatted for reading).

    Args:
        frame: the table.

    Returns:
        The Markdown text.
    """
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame, changed: np.ndarray | None = None) -> str:
    """A sortable table (numbers sort by value); `changed` (rows x columns) marks cells.

    Args:
        frame: the table; numbers are formatted for reading (NaN as '–') and keep their value
            for sorting.
        changed: a bool array of `frame`'s shape; True cells are highlighted (`_side_by_side`'s
            marks). None: no cell.

    Returns:
        The HTML: a `<table class="sortable">` in a scrolling `<div>` (the page's script sorts it).
    """
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)

    def cell(value, mark: bool) -> str:
        classes = ["text"] if isinstance(value, str) else []
        if mark:
            classes.append("changed")
        kind = f' class="{" ".join(classes)}"' if classes else ""
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        data = f' data-value="{float(value)!r}"' if number and not np.isnan(float(value)) else ""
        return f"<td{kind}{data}>{html.escape(_fmt(value))}</td>"

    marks = np.zeros(frame.shape, dtype=bool) if changed is None else changed
    body = "".join(
        "<tr>" + "".join(cell(v, bool(m)) for v, m in zip(row, marks[r], strict=True)) + "</tr>"
        for r, row in enumerate(frame.itertuples(False))
    )
    table = f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


# -- tables --------------------------------------------------------------------------------------


def _design_table(results: analysis.Results) -> pd.DataFrame:
    """The designs at the headline sparsity: one row per model, design, memory and mode.

    Args:
        results: the experiment's results.

    Returns:
        The table, with the column names the report shows.
    """
    frame = results.comparison[np.isclose(results.comparison.sparsity, results.headline)]
    table = pd.DataFrame(
        {
            "model": frame["model"],
            # the search's best design (dse_best_*) shares model, memory and mode with a reference
            # design: without its name the two rows read as one design with two sets of figures
            **({"design": frame["design"]} if "design" in frame else {}),
            "memory": frame["memory"],
            "mode": frame["mode"],
            "frames/s": frame["fps"],
            "latency (ms)": frame["latency_s"] * 1e3,
            "power (W)": frame["power_w"],
            "frames/s/W": frame["fps_per_w"],
            # shares in percent, as the summary above the table and the command line give them
            "MAC util. (%)": frame["utilization"] * 100,
            "DRAM (MB/frame)": frame["dram_mb_per_frame"],
            "memory-bound time (%)": frame["memory_bound_share"] * 100,
            "bound": frame["bound"],
        }
    )
    return table.reset_index(drop=True)


def _baseline_table(results: analysis.Results) -> pd.DataFrame:
    """The CPU and GPU baselines: published, roofline bounds and measured here.

    Args:
        results: the experiment's results.

    Returns:
        The table, with the column names the report shows.
    """
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


# the front table: (column, heading, scale) in the order an architect reads a design
_FRONT_COLUMNS = (
    ("trial", "trial", 1),
    ("model", "model", 1),
    ("mode", "mode", 1),
    ("k_vec", "k_vec", 1),
    ("c_vec", "c_vec", 1),
    ("q_vec", "q_vec", 1),
    ("lanes", "lanes", 1),
    ("clock_mhz", "clock (MHz)", 1),
    ("stream_buffer_kb", "stream buffer (KB)", 1),
    ("filter_cache_kb", "filter cache (KB)", 1),
    ("alpha", "alpha", 1),
    ("gamma", "gamma", 1),
    ("memory", "memory", 1),
    ("mem_channels", "memory channels", 1),
    ("fps", "frames/s", 1),
    ("power_w", "W", 1),
    ("fps_per_w", "frames/s/W", 1),
    ("pruned_share", "pruned (%)", 100),
    ("accuracy", "accuracy", 1),
    ("dsp_share", "DSP (%)", 100),
    ("m20k_share", "M20K (%)", 100),
    ("alm_share", "ALM (%)", 100),
)


def _front_table(front: pd.DataFrame) -> pd.DataFrame:
    """Every design on the front with its full array configuration, memory and resources.

    Args:
        front: the front's rows of a search or sweep table (a sweep's carry `point`).

    Returns:
        The table with the report's headings: a sweep's designs named by their grid point, the
        model and mode only when they differ between designs.
    """
    out = {}
    sweep = "point" in front
    for column, heading, scale in _FRONT_COLUMNS:
        if column == "trial" and column not in front and sweep:
            column = "point"  # a sweep table's own rows, not explorer.design_table's
        if column in ("model", "mode") and column in front and front[column].nunique() == 1:
            continue  # one value repeated on every row
        if column in front and front[column].notna().any():  # not a column of dashes (accuracy)
            values = front[column]
            # a sweep's `trial` is its grid point (explorer.design_table), as sweep.csv names it
            heading = "point" if sweep and heading == "trial" else heading
            out[heading] = values * scale if scale != 1 else values
    return pd.DataFrame(out).reset_index(drop=True)


def _split(packed: pd.Series) -> str:
    """What the packed feeder alone and column combining each buy, when the results record it."""
    feeder, combining = packed.get("feeder_speedup"), packed.get("combining_speedup")
    if feeder is None or combining is None or not (np.isfinite(feeder) and np.isfinite(combining)):
        return ""
    return f"{feeder:.1f}x from the packed feeder alone, {combining:.1f}x from column combining; "


def summary(results: analysis.Results) -> list[str]:
    """A few sentences per model: where the time goes and what packing and HBM2 buy.

    Args:
        results: the experiment's results (`analysis.load`), with packed rows of the HBM2 design
            and of the spec's first DDR4 design at the headline sparsity.

    Returns:
        One paragraph of plain text per model of the spec, in its order: packing's speedup over
        unpacked, the DDR4 design's memory-bound share and DRAM MB a frame, and HBM2's gain over
        DDR4 with its frames/s and frames/s/W.
    """
    spec, lines = results.spec, []
    curves = analysis.sparsity_curves(results).set_index(["model", "sparsity"])
    ddr4 = spec.ddr4_designs[0]
    frame = results.comparison
    for model in spec.models:
        at = (
            np.isclose(frame.sparsity, results.headline)
            & (frame.model == model)
            & (frame["mode"] == "packed")
        )
        on_ddr4 = frame[at & (frame.design == ddr4)].iloc[0]
        on_hbm2 = frame[at & (frame.design == spec.hbm2_design)].iloc[0]
        curve = curves.loc[(model, results.headline)]
        # "lifts that" only when there is memory-bound time to lift (a design whose maps fit on
        # chip read "0% of its time ...; HBM2 lifts that")
        hbm2 = (
            "HBM2 lifts that and gives"
            if round(on_ddr4.memory_bound_share, 2) > 0
            else "with no memory-bound time to remove, HBM2 gives"
        )
        lines.append(
            f"{plots.MODEL_LABELS.get(model, model)} at {results.headline:.0%} sparsity: packing "
            f"runs {curve.packed_over_unpacked:.1f}x faster than the unpacked sparse model on "
            f"HBM2 ({_split(on_hbm2)}MAC utilisation {on_hbm2.utilization:.0%}). On "
            f"{on_ddr4['memory']} the packed design spends {on_ddr4.memory_bound_share:.0%} of its "
            "time in memory-bound layers "
            f"({on_ddr4.dram_mb_per_frame:.1f} MB of DRAM traffic a frame); {hbm2} "
            f"{curve.hbm2_over_ddr4:.2f}x ({on_hbm2.fps:,.0f} frames/s, "
            f"{on_hbm2.fps_per_w:.1f} frames/s/W)."
        )
    return lines


# -- provenance ----------------------------------------------------------------------------------


def _fidelity(frame: pd.DataFrame | None) -> str:
    """The fidelity level and uncertainty bands a table's numbers carry.

    Args:
        frame: a results table (comparison.csv, a search or sweep table), or None. Its
            `fidelity` column, if any, names the memory model's level (0, 1 or 2); a pair
            of `<figure>_p5` / `<figure>_p95` (or `_lo` / `_hi`) columns marks a figure's bands.

    Returns:
        One phrase for the page: the _FIDELITY_TEXT of each level in the table's `fidelity`
        column (_UNRECORDED_FIDELITY without one, or for None or an empty table), then "no
        uncertainty bands" or "5-95% bands on fps, power_w (Monte-Carlo over the estimates'
        ranges)".
    """
    if frame is None or frame.empty:
        return f"{_UNRECORDED_FIDELITY}, no uncertainty bands"
    level = _fidelity_level(frame)
    for low, high, kind in (("_p5", "_p95", "5-95% bands"), ("_lo", "_hi", "uncertainty bands")):
        # the Monte-Carlo bands of study/bands.py (<figure>_p5 / _p95), or any <figure>_lo / _hi
        named = sorted(
            {c[: -len(low)] for c in frame.columns if c.endswith(low)}
            & {c[: -len(high)] for c in frame.columns if c.endswith(high)}
        )
        if named:
            return f"{level}, {kind} on {', '.join(named)} (Monte-Carlo over the estimates' ranges)"
    return f"{level}, no uncertainty bands"


def _fidelity_level(frame: pd.DataFrame | None) -> str:
    """The memory fidelity a table's numbers were computed at (`_fidelity`'s first part).

    Args:
        frame: a results table with a `fidelity` column (0, 1 or 2 per row), or None.

    Returns:
        The _FIDELITY_TEXT of each level present, joined by "and"; _UNRECORDED_FIDELITY for a
        table without the column, or for None.
    """
    levels = []
    if frame is not None and "fidelity" in frame:
        levels = sorted(pd.to_numeric(frame["fidelity"], errors="coerce").dropna().astype(int).unique())
    return " and ".join(_FIDELITY_TEXT.get(v, f"level {v}") for v in levels) or _UNRECORDED_FIDELITY


@dataclass
class _Provenance:
    """Where a report's numbers come from: the spec, its hash, the run, the tool and the fidelity."""

    name: str
    source: str
    spec_hash: str
    run_date: str
    duration: str
    extra: list[tuple[str, str]] = field(default_factory=list)
    run_tool: str = ""  # the version that ran it, when the record keeps it

    def rows(self) -> list[tuple[str, str]]:
        """The provenance as (label, value) pairs, in the order the report lists them.

        Returns:
            The pairs.
        """
        version = tool_version()
        if self.run_tool and self.run_tool != version:
            # results made by one version, the report by another: say both
            version = f"{self.run_tool}; this report: {version}"
        docs_root = Path(dla_explorer.__file__).resolve().parent.parent / "docs"
        docs = ", ".join(f"docs/{name}" for name in _DOCS if (docs_root / name).is_file()) or "docs/"
        ref = _REFERENCE
        return [
            ("reference work", f'"{ref["title"]}", {ref["venue"]}'),
            ("experiment", f"{self.name} from {self.source}"),
            ("spec hash", self.spec_hash),
            ("run", f"{self.run_date}, {self.duration}"),
            ("tool", f"dla-explorer {version}"),
            *self.extra,
            ("model and coefficients", f"{docs} and hw_configs/ (every coefficient with its source)"),
        ]

    def html(self) -> str:
        """The provenance as an HTML list.

        Returns:
            The HTML.
        """
        items = []
        for key, value in self.rows():
            text = html.escape(value)
            if key == "reference work":
                text += f' (<a href="{_REFERENCE["link"]}">abstract</a>)'
            items.append(f"<li><b>{html.escape(key)}</b>: {text}</li>")
        return f'<div class="provenance"><ul>{"".join(items)}</ul></div>'

    def markdown(self) -> list[str]:
        """The provenance as a Markdown list.

        Returns:
            The Markdown.
        """
        lines = []
        for key, value in self.rows():
            if key == "reference work":
                value += f" ([abstract]({_REFERENCE['link']}))"
            lines.append(f"- **{key}**: {value}")
        return lines


def _mtime(path: Path) -> str:
    return _stamp(datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.timezone.utc))


def _stamp(moment: datetime.datetime) -> str:
    """A time as the report prints it (UTC; a naive time, as Optuna records them, is local)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "duration not recorded"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# -- figures -------------------------------------------------------------------------------------


def _save(fig: Figure, folder: Path, name: str, formats: Sequence[str]) -> bytes:
    """Save a figure in every format (PNG at print resolution) and return the page's PNG."""
    for fmt in formats:
        with atomic_open(folder / f"{name}.{fmt}", "wb") as handle:
            # tight: the legends sit outside the axes and must be in the file
            fig.savefig(handle, format=fmt, dpi=_PAPER_DPI if fmt == "png" else None, bbox_inches="tight")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_PAGE_DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def parse_formats(text: str) -> tuple[str, ...]:
    """The figure formats of --format ('png,svg,pdf').

    Args:
        text: comma-separated formats.

    Returns:
        The formats, in order, each once.

    Raises:
        UsageError: an unknown format or none at all.
    """
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in _FORMATS]
    if bad or not formats:
        raise UsageError(f"--format: '{text}': each of {', '.join(_FORMATS)} (comma-separated)")
    return formats


# -- the page ------------------------------------------------------------------------------------


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # the bundled plotly.min.js: no network needed

    return get_plotlyjs()


def _explorer_js() -> str:
    return resources.files("dla_explorer.study").joinpath("assets/explorer.js").read_text()


def _explorer_section(built: explorer.Explorer, fidelity_text: str) -> str:
    """The interactive explorer's markup and data (the script is added once per page).

    Args:
        built: the designs and the page's data (`explorer.build`).
        fidelity_text: what the numbers rest on (`_fidelity`), shown above the explorer.

    Returns:
        The HTML section: objective pickers, sliders, scatter and parallel-coordinates panes, the
        front's table, the drill-down panes, and the data as JSON in a script tag. The page must
        embed plotly and the explorer script (a _Document with `interactive` set).
    """
    data = json.dumps(built.payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    note = built.payload["drill_note"]
    return f"""
<h2 id="explore">Explore the designs</h2>
<p class="note">Choose the two objectives; the blue line is their Pareto front among the designs that
meet the constraints. Set constraints with the sliders or by dragging along an axis of the parallel
coordinates (drag again to add a range, click the axis to clear it). Hover a point for its parameters;
click a point or a row of the front's table for its drill-down. {html.escape(note)}</p>
<p class="fidelity">Numbers: {html.escape(fidelity_text)}.</p>
<div class="controls">
  <label>x: <select id="x-metric"></select></label>
  <label>y: <select id="y-metric"></select></label>
  <label><input type="checkbox" id="show-infeasible"> show infeasible designs</label>
  <span id="shown-count" class="note"></span>
</div>
<div id="sliders"></div>
<div id="scatter" style="height:500px"></div>
<div id="parcoords" style="height:440px"></div>
<h3>Front of the current view: <span id="front-count"></span></h3>
<div class="scroll"><table id="front-table"></table></div>
<div id="drill" data-trial="">
  <h3 id="drill-title">Click a design (a point or a row) for its drill-down</h3>
  <div id="drill-summary"></div>
  <p id="drill-note" class="note"></p>
  <div id="drill-time"></div><div id="drill-traffic"></div><div id="drill-util"></div>
  <div id="drill-resources"></div>
</div>
<script id="explorer-data" type="application/json">{data}</script>
"""


def _page(title: str, body: list[str], interactive: bool) -> str:
    scripts = ""
    if interactive:
        scripts = f"<script>{_plotly_js()}</script>"
    scripts += f"<script>{_explorer_js()}</script>"  # sortable tables, and the explorer if present
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}{scripts}</body></html>"
    )


@dataclass
class _Document:
    """The report's parts, written out as HTML and Markdown."""

    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    interactive: bool = False

    def heading(self, text: str, level: int = 2) -> None:
        """Add a section heading to both documents.

        Args:
            text: the heading.
            level: 1 to 6, as in HTML (2: a section).
        """
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")
        self.md += ["#" * level + " " + text, ""]

    def paragraph(self, text: str, css: str = "") -> None:
        """Add a paragraph to both documents.

        Args:
            text: the paragraph (plain text; escaped for HTML).
            css: a CSS class ("note": a caption, in italics in Markdown); "" for none.
        """
        kind = f' class="{css}"' if css else ""
        self.html.append(f"<p{kind}>{html.escape(text)}</p>")
        self.md += [f"*{text}*" if css else text, ""]

    def table(self, heading: str, frame: pd.DataFrame, note: str = "") -> None:
        """Add a table under its own heading to both documents (nothing when it is empty).

        Args:
            heading: the section heading.
            frame: the table.
            note: a caption shown above it; "" for none.
        """
        if frame.empty:
            return
        self.heading(heading)
        if note:
            self.paragraph(note, "note")
        self.html.append(_html_table(frame))
        self.md += [_markdown_table(frame), ""]

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write report.md and report.html atomically.

        Args:
            folder: the results folder.

        Returns:
            The paths of report.html and report.md.
        """
        html_path, md_path = folder / "report.html", folder / "report.md"
        body = [f"<h1>{html.escape(self.title)}</h1>", *self.html]
        write_text_atomic(html_path, _page(self.title, body, self.interactive))
        write_text_atomic(md_path, "\n".join([f"# {self.title}", "", *self.md]).rstrip() + "\n")
        return html_path, md_path


def _front_section(doc: _Document, built: explorer.Explorer, objectives: str) -> None:
    front = built.front()
    kind = "Sweep" if "point" in front else "Search"
    doc.table(
        f"{kind}: all {len(front)} designs on the Pareto front ({objectives})",
        _front_table(front),
        f"{len(front)} of {int(built.frame['feasible'].sum())} feasible designs "
        f"({len(built.frame)} evaluated). Resources are shares of the device; 'pruned' is the share "
        "of weight magnitude that packing's conflicts remove.",
    )


def _figures(doc: _Document, results: analysis.Results, formats: Sequence[str]) -> None:
    folder = results.folder / "figures"
    folder.mkdir(exist_ok=True)
    doc.heading("Figures")
    for name, make in plots.FIGURES.items():
        fig = make(results)
        if fig is None:
            continue
        png = _save(fig, folder, name, formats)
        source = results.search if name == "pareto" else results.comparison
        numbers = _fidelity(source)
        if "bands on" in numbers:  # the tables carry them; these figures draw the nominal values
            numbers = _fidelity_level(source) + "; the bands are drawn under 'Uncertainty bands'"
        caption = f"{_CAPTIONS[name]} Numbers: {numbers}."
        first = "png" if "png" in formats else formats[0]
        others = ", ".join(f"[{f}](figures/{name}.{f})" for f in formats if f != first)
        doc.md += [
            f"![{name}](figures/{name}.{first})",
            "",
            f"*{caption}*" + (f" ({others})" if others else ""),
        ]
        doc.md.append("")
        encoded = base64.b64encode(png).decode()
        doc.html.append(
            f'<figure><img alt="{name}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )


def _dram_section(doc: _Document, frames: Sequence[pd.DataFrame], intro: str) -> None:
    """The per-layer DRAM figures (docs/report.md#dram-traffic-per-layer): a summary table,
    then one interactive figure a design (plotly, embedded in the page)."""
    frames = [f for f in frames if f is not None and not f.empty]
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True)
    doc.heading("DRAM traffic per layer")
    doc.paragraph(intro, "note")
    table = dram_figure.summary(frame)
    doc.html.append(_html_table(table))
    doc.md += [_markdown_table(table), ""]
    doc.html += dram_figure.figures_html(frame)
    doc.interactive = True  # plotly.js goes into the page
    doc.md += [
        f"The interactive figures (bandwidth per channel over each layer, stall per layer, at "
        f"{dram_figure.FIDELITY_TEXT}) are in report.html; the data in {dram_figure.FILE}.",
        "",
    ]


# -- uncertainty bands: error bars and band columns (study/bands.py writes them) ----------------


def _read_ratio_bands(folder: Path) -> pd.DataFrame | None:
    """The paper's ratios as 5/50/95% bands (uncertainty.csv), if the run drew samples.

    Args:
        folder: an experiment's results folder.

    Returns:
        uncertainty.csv (`bands.ratio_row`): one row per ratio and model with figure,
        comparison, model, p5, p50, p95, paper, paper_inside_band, half_width, within_limit and
        samples; None when the run drew no samples (no file).
    """
    path = folder / "uncertainty.csv"
    return pd.read_csv(path) if path.is_file() else None


def _ratio_key(label: str) -> str:
    """The comparison a row of the speedups table and a row of uncertainty.csv share: their labels
    differ only by a "(published)" note, and the searched design's row by its wording."""
    if label.startswith("HBM2 DSE best"):
        return "HBM2 DSE best"
    return label.replace(" (published)", "")


def _comparison_with_bands(table: pd.DataFrame, ratios: pd.DataFrame | None) -> pd.DataFrame:
    """The comparison table with each ratio's 5-95% band beside its median (where drawn).

    Args:
        table: the comparison with the reference work (`analysis.speedups`, columns renamed for
            the page): comparison, model, simulated, paper, ..., detail.
        ratios: the ratio bands (`_read_ratio_bands`), or None.

    Returns:
        `table` with median, 5%, 95%, band half-width (a share of the median) and paper inside
        band inserted after `simulated` (NaN on a row without a band), `detail` kept last;
        `table` unchanged when there are no bands.
    """
    if ratios is None or ratios.empty:
        return table
    bands = ratios.assign(_key=ratios["comparison"].map(_ratio_key))[
        ["_key", "model", "p5", "p50", "p95", "half_width", "paper_inside_band"]
    ].rename(
        columns={
            "p50": "median",
            "p5": "5%",
            "p95": "95%",
            "half_width": "band half-width",
            "paper_inside_band": "paper inside band",
        }
    )
    out = table.assign(_key=table["comparison"].map(_ratio_key)).merge(
        bands, on=["_key", "model"], how="left"
    )
    order = [c for c in table.columns if c != "detail"]
    at = order.index("simulated") + 1
    order[at:at] = ["median", "5%", "95%", "band half-width", "paper inside band"]
    return out[[*order, "detail"]] if "detail" in table else out[order]


def _design_table_with_bands(results: analysis.Results) -> pd.DataFrame:
    """The designs table with the 5% and 95% of frames/s, power and frames/s/W beside each.

    Args:
        results: the experiment's results; their comparison table carries `fps_p5` /
            `fps_p95`, `power_w_p5`, ... when the run drew samples.

    Returns:
        `_design_table(results)` with "<heading> 5%" and "<heading> 95%" after each of frames/s,
        power (W) and frames/s/W that has bands (unchanged without samples).
    """
    table = _design_table(results)
    frame = results.comparison[np.isclose(results.comparison.sparsity, results.headline)].reset_index(
        drop=True
    )
    for figure, heading in (("fps", "frames/s"), ("power_w", "power (W)"), ("fps_per_w", "frames/s/W")):
        if f"{figure}_p5" not in frame or frame[f"{figure}_p5"].isna().all():
            continue
        at = list(table.columns).index(heading) + 1
        table.insert(at, f"{heading} 95%", frame[f"{figure}_p95"])
        table.insert(at, f"{heading} 5%", frame[f"{figure}_p5"])
    return table


def _band_figures_section(doc: _Document, results: analysis.Results, ratios: pd.DataFrame | None) -> None:
    """The bands as error bars: plotly figures of the paper's ratios and of the designs' headline
    figures (the figure specs as JSON in the page, drawn by the embedded plotly).

    Nothing is added when neither the ratios nor the comparison table carry bands.

    Args:
        doc: the report being built; marked interactive when figures are added.
        results: the experiment's results (their comparison's `<figure>_p5/_p50/_p95` columns).
        ratios: the ratio bands (`_read_ratio_bands`), or None.
    """
    figures = plots.ratio_band_figures(ratios) if ratios is not None else []
    figures += plots.design_band_figures(results.comparison, results.headline)
    if not figures:
        return
    doc.heading("Uncertainty bands")
    samples = int(ratios["samples"].iloc[0]) if ratios is not None and "samples" in ratios else 0
    note = (
        "Medians with their 5-95% bands as error bars"
        + (f" over {samples:,} Monte-Carlo samples" if samples else "")
        + " of every estimate's range (hw_configs/); crosses: the paper's figures."
    )
    doc.paragraph(note, "note")
    divs = "".join(f'<div id="{f["name"]}" class="band-figure" style="height:420px"></div>' for f in figures)
    data = json.dumps(figures, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    doc.html.append(
        f'{divs}<script id="band-figures" type="application/json">{data}</script>'
        "<script>window.addEventListener('load', function () {"
        "JSON.parse(document.getElementById('band-figures').textContent).forEach(function (f) {"
        "Plotly.newPlot(f.name, f.data, f.layout, {responsive: true, displaylogo: false});});});"
        "</script>"
    )
    doc.md += ["The bands drawn as error bars are in report.html; the tables above carry them.", ""]
    doc.interactive = True


def _experiment_report(folder: Path, formats: Sequence[str]) -> tuple[Path, Path]:
    """The report of a 'dla-explorer run' folder: tables, figures and the explorer.

    Args:
        folder: the results folder (holding experiment.json).
        formats: figure formats to write besides the embedded PNGs.

    Returns:
        The paths of report.html and report.md.

    Raises:
        DlaError: a table the report needs is missing or unreadable.
    """
    results = analysis.load(folder)
    spec, record = results.spec, results.record
    doc = _Document(f"dla-explorer report: {spec.name}")
    built = None
    if results.search is not None and results.search_folder is not None:
        table, search_spec = explorer.load_dse_folder(results.search_folder)
        built = explorer.build(
            table, search_spec, doc.title, cache=results.search_folder / "explorer-cache.json"
        )
    extra = [("device and batch", f"{spec.device}, batch {spec.batch}, run size '{record.size}'")]
    extra.append(("fidelity", f"{_fidelity(results.comparison)} (per figure below)"))
    provenance = _Provenance(
        spec.name,
        record.source,
        record.hash,
        record.finished or _mtime(folder / RECORD),
        _duration(record.seconds),
        extra,
        record.tool,
    )
    doc.html.append(f"<p>{html.escape(spec.description)}</p>" if spec.description else "")
    doc.html.append(provenance.html())
    doc.md += (
        [spec.description, "", *provenance.markdown(), ""] if spec.description else provenance.markdown()
    )
    lines = summary(results)
    doc.html.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
    doc.md += ["", *[f"- {line}" for line in lines], ""]
    speedups = analysis.speedups(results).rename(
        columns={
            "ours_over_paper": "ours / paper",
            "explained_in_validation": "> 30% off: see docs/validation.md",
        }
    )
    ratios = _read_ratio_bands(folder)
    doc.table(
        "Comparison with the reference work",
        _comparison_with_bands(speedups, ratios),
        f"The paper's ratios: {_REFERENCE['title']}."
        + (" Median and 5-95% band of each ratio over the estimates' ranges." if ratios is not None else ""),
    )
    doc.table(f"Designs at {results.headline:.0%} sparsity", _design_table_with_bands(results))
    doc.table("CPU and GPU baselines", _baseline_table(results))
    if built is not None:
        objectives = " vs ".join(built.payload["objectives"])
        _front_section(doc, built, objectives)
        doc.html.append(_explorer_section(built, _fidelity(results.search)))
        doc.interactive = True
        doc.md += [
            "The interactive explorer (any two objectives, constraints, per-design drill-down) "
            "is in report.html.",
            "",
        ]
    _band_figures_section(doc, results, ratios)
    _figures(doc, results, formats)
    _dram_section(
        doc,
        [
            dram_figure.load(folder / dram_figure.FILE),
            _search_dram_layers(results.search_folder),
        ],
        "The headline designs (packed, the HBM2 design and every DDR4 design, each model) and the "
        "search's best design, replayed at memory fidelity 2.",
    )
    doc.paragraph(
        "Ratios more than 30% away from the paper's are explained in docs/validation.md. "
        "Every coefficient is in hw_configs/ and docs/model.md.",
        "note",
    )
    return doc.write(folder)


def _dse_report(folder: Path) -> tuple[Path, Path]:
    """The report of a `search` or `sweep` folder: the front's table and the explorer.

    Args:
        folder: the results folder (holding spec.json and search.csv or sweep.csv).

    Returns:
        The paths of report.html and report.md, written into `folder`.

    Raises:
        DlaError: the folder has no spec.json or no complete search.csv / sweep.csv.
    """
    table, spec = explorer.load_dse_folder(folder)
    doc = _Document(f"dla-explorer report: {spec.name}")
    built = explorer.build(table, spec, doc.title, cache=folder / "explorer-cache.json")
    started = pd.to_datetime(table["datetime_start"], errors="coerce") if "datetime_start" in table else None
    duration = None
    # when the run ended, as the experiment's report says (spec.json's time is when it began):
    # a search's last trial, else the time the sweep appended its last row
    files = (folder / "search.csv", folder / "sweep.csv", folder / "spec.json")
    table_file = next(p for p in files if p.is_file())
    finished = _mtime(table_file)
    if started is not None and started.notna().any() and "duration_s" in table:
        end = (started + pd.to_timedelta(table["duration_s"].fillna(0), unit="s")).max()
        duration = (end - started.min()).total_seconds()
        finished = _stamp(end.to_pydatetime())
    source = (read_spec_record(folder) or {}).get("source") or str(folder / "spec.json")
    provenance = _Provenance(
        spec.name,
        str(source),
        spec.content_hash(),
        finished,
        _duration(duration),
        [("device and batch", f"{spec.device}, batch {spec.batch}"), ("fidelity", _fidelity(table))],
    )
    if spec.description:
        doc.paragraph(spec.description)
    doc.html.append(provenance.html())
    doc.md += [*provenance.markdown(), ""]
    _front_section(doc, built, " vs ".join(built.payload["objectives"]))
    doc.html.append(_explorer_section(built, _fidelity(table)))
    doc.interactive = True
    doc.md += ["The interactive explorer is in report.html.", ""]
    _dram_section(
        doc,
        [_search_dram_layers(folder)],
        "The front's best design (by the first objective), replayed at memory fidelity 2 by the "
        "search's re-score.",
    )
    return doc.write(folder)


def _search_dram_layers(folder: Path | None) -> pd.DataFrame | None:
    """The DRAM table a search's level-2 re-score wrote for its best front design."""
    if folder is None:
        return None
    label = {"model": "search", "design": "front's best design", "memory": ""}
    front = folder / "fidelity_front.csv"
    if front.is_file():
        head = pd.read_csv(front, nrows=1)
        for column in ("model", "memory"):
            if column in head and not head.empty:
                label[column] = str(head[column].iloc[0])
    return dram_figure.load(folder / dram_figure.FILE, label)


def write_report(folder: str | Path, formats: Sequence[str] = ("png", "svg")) -> tuple[Path, Path]:
    """Write report.html (self-contained) and report.md (+ figures/) into the results folder.

    Args:
        folder: a results folder of 'dla-explorer run', 'search' or 'sweep'.
        formats: figure files to write beside report.md (png, svg, pdf), as a sequence or as
            comma-separated text ('png,pdf'); an experiment's report only.

    Returns:
        The paths of report.html and report.md.

    Raises:
        UsageError: an unknown figure format.
        DlaError: the folder does not exist, is not a results folder, or holds tables that are
            missing or unreadable.
    """
    # "png" iterated as 'p', 'n', 'g' and an unknown format failed inside matplotlib
    formats = parse_formats(formats if isinstance(formats, str) else ",".join(map(str, formats)))
    folder = as_path(folder, "folder")
    if (folder / RECORD).is_file():
        return _experiment_report(folder, formats)
    if (folder / "spec.json").is_file():
        return _dse_report(folder)
    if not folder.is_dir():
        raise DlaError(f"{folder}: folder not found")
    raise DlaError(
        f"{folder}: no {RECORD} or spec.json: not a results folder of 'dla-explorer run', 'search' or 'sweep'"
    )


# -- two results folders side by side ------------------------------------------------------------

# a relative difference above this is highlighted (below it: rounding and timing noise)
_CHANGE_THRESHOLD = 0.01


def _flatten(value: object, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: json.dumps(value, sort_keys=True) if isinstance(value, list) else str(value)}


def _spec_differences(a: dict, b: dict) -> pd.DataFrame:
    """Every spec key whose value differs between two runs (absent keys show as '–').

    Args:
        a: the first run's spec as a (nested) dict, as recorded.
        b: the second run's.

    Returns:
        One row per differing key, sorted: `key` (nested keys dotted, e.g.
        `constraints.max.power_w`), `A` and `B` (the values as text; lists as JSON). Empty when
        the specs match.
    """
    fa, fb = _flatten(a), _flatten(b)
    keys = sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))
    return pd.DataFrame(
        {"key": keys, "A": [fa.get(k, "–") for k in keys], "B": [fb.get(k, "–") for k in keys]}
    )


def _side_by_side(
    a: pd.DataFrame, b: pd.DataFrame, keys: list[str], metrics: dict[str, str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows matched on `keys`: each metric of A, of B and B/A; the second value marks the cells of
    B and B/A that differ by more than _CHANGE_THRESHOLD (and rows present in one run only).

    Args:
        a: run A's table.
        b: run B's table.
        keys: the columns that identify a row in both (an outer join: a row of one run only
            gets NaN for the other).
        metrics: column -> the heading it is shown under; each column numeric in both tables.

    Returns:
        The table (the keys, then "<heading> A", "<heading> B" and "<heading> B/A" per metric)
        and the marks: a bool array of its shape for `_html_table`'s `changed`.
    """
    merged = a[keys + list(metrics)].merge(
        b[keys + list(metrics)], on=keys, how="outer", suffixes=(" A", " B")
    )
    out = merged[keys].copy()
    marks = [np.zeros(len(merged), dtype=bool) for _ in keys]
    for column, heading in metrics.items():
        first, second = merged[f"{column} A"].astype(float), merged[f"{column} B"].astype(float)
        ratio = second / first
        changed = ~(np.abs(ratio - 1) <= _CHANGE_THRESHOLD)  # NaN (a row in one run only) counts
        out[f"{heading} A"], out[f"{heading} B"], out[f"{heading} B/A"] = first, second, ratio
        marks += [np.zeros(len(merged), dtype=bool), changed.to_numpy(), changed.to_numpy()]
    return out, np.stack(marks, axis=1)


def _search_summary(frame: pd.DataFrame) -> dict[str, float]:
    ok = frame[frame["feasible"]]
    return {
        "designs evaluated": float(len(frame)),
        "feasible": float(len(ok)),
        "on the front": float(frame["front"].sum()),
        "best frames/s": float(ok["fps"].max()) if len(ok) else float("nan"),
        "least W": float(ok["power_w"].min()) if len(ok) else float("nan"),
        "best frames/s/W": float(ok["fps_per_w"].max()) if len(ok) else float("nan"),
    }


def _search_side_by_side(frame_a: pd.DataFrame, frame_b: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The two searches' summaries (trials, best figures) side by side, with the marks of what
    differs."""
    rows = pd.DataFrame([_search_summary(frame_a), _search_summary(frame_b)], index=["A", "B"]).T
    rows = rows.reset_index(names="search")
    return _side_by_side(
        rows[["search", "A"]].rename(columns={"A": "value"}),
        rows[["search", "B"]].rename(columns={"B": "value"}),
        ["search"],
        {"value": "value"},
    )


def _folder_kind(folder: Path) -> str:
    if (folder / RECORD).is_file():
        return "experiment"
    if (folder / "spec.json").is_file():
        return "dse"
    raise DlaError(f"{folder}: not a results folder of 'dla-explorer run', 'search' or 'sweep'")


def _dse_tables(folder: Path) -> tuple[dict, pd.DataFrame]:
    """A search's raw spec and its designs (derived columns, front flags; no drill-downs)."""
    table, spec = explorer.load_dse_folder(folder)
    frame = explorer.design_table(table, hw.load_device(spec.device))
    objectives = [(o.metric, "max" if o.direction == "maximize" else "min") for o in spec.objectives]
    frame["front"] = explorer.front_mask(frame, objectives)
    return spec.model_dump(mode="json"), frame


def write_comparison(first: str | Path, second: str | Path) -> tuple[Path, Path]:
    """Two results folders side by side, differences highlighted: written into the first as
    report_vs_<second folder's name>.html and .md.

    Two experiments are compared on their designs at the headline sparsity, their ratios
    against the reference work and their searches (when both ran one); two search or sweep
    folders on their searches' summaries. The pages start with the spec keys that differ.

    Args:
        first: run A's results folder (the pages are written into it).
        second: run B's, of the same kind (both experiments, or both searches / sweeps).

    Returns:
        The paths of report_vs_<name>.html and report_vs_<name>.md.

    Raises:
        UsageError: one folder is an experiment and the other is not.
        DlaError: a folder is not a results folder, or holds tables that are missing or
            unreadable.
    """
    a, b = Path(first), Path(second)
    kinds = (_folder_kind(a), _folder_kind(b))
    if kinds[0] != kinds[1]:
        raise UsageError(f"{a} is a{'n' if kinds[0] == 'experiment' else ''} {kinds[0]} folder, {b} is not")
    doc = _Document(f"dla-explorer: {a} (A) against {b} (B)")
    doc.paragraph(
        f"A = {a}, B = {b}. Highlighted: values of B that differ from A by more than "
        f"{_CHANGE_THRESHOLD:.0%}, and rows present in one run only. Numbers: nominal (memory "
        "fidelity as each run's own report gives it)."
    )
    sections: list[tuple[str, pd.DataFrame, np.ndarray | None]] = []
    if kinds[0] == "experiment":
        ra, rb = analysis.load(a), analysis.load(b)
        # the specs as recorded, every key (the typed view holds only what the report reads)
        raw = [json.loads((f / RECORD).read_text()).get("spec", {}) for f in (a, b)]
        specs = (raw[0], raw[1])
        heads = [r.comparison[np.isclose(r.comparison.sparsity, r.headline)] for r in (ra, rb)]
        metrics = {
            "fps": "frames/s",
            "power_w": "W",
            "fps_per_w": "frames/s/W",
            "utilization": "MAC util.",
            "dram_mb_per_frame": "DRAM MB/frame",
        }
        # the design's name too: the search's best shares model, memory and mode with a reference
        keys = (
            ["model", "design", "memory", "mode"]
            if all("design" in h for h in heads)
            else ["model", "memory", "mode"]
        )
        table, marks = _side_by_side(heads[0], heads[1], keys, metrics)
        sections.append(("Designs at the headline sparsity", table, marks))
        speed = [analysis.speedups(r)[["comparison", "model", "simulated", "paper"]] for r in (ra, rb)]
        table, marks = _side_by_side(speed[0], speed[1], ["comparison", "model"], {"simulated": "ratio"})
        sections.append(("Comparison with the reference work", table, marks))
        if ra.search_folder is not None and rb.search_folder is not None:
            searches = [_dse_tables(f)[1] for f in (ra.search_folder, rb.search_folder)]
            sections.append(("Design-space search", *_search_side_by_side(searches[0], searches[1])))
    else:
        (spec_a, frame_a), (spec_b, frame_b) = _dse_tables(a), _dse_tables(b)
        specs = (spec_a, spec_b)
        sections.append(("Design-space search", *_search_side_by_side(frame_a, frame_b)))
    differences = _spec_differences(*specs)
    doc.heading(f"What changed in the spec ({len(differences)} keys)")
    if differences.empty:
        doc.paragraph("The two runs used the same spec.", "note")
    else:
        marks = np.zeros(differences.shape, dtype=bool)
        marks[:, 2] = True
        doc.html.append(_html_table(differences, marks))
        doc.md += [_markdown_table(differences), ""]
    for heading, table, changed in sections:
        doc.heading(heading)
        doc.html.append(_html_table(table, changed))
        shown = table.copy().astype(object)
        if changed is not None:  # Markdown: changed values in bold
            for r, c in zip(*np.nonzero(changed), strict=True):
                shown.iat[r, c] = f"**{_fmt(table.iat[r, c])}**"
        doc.md += [_markdown_table(shown), ""]
    name = b.resolve().name or "other"
    html_path, md_path = a / f"report_vs_{name}.html", a / f"report_vs_{name}.md"
    write_text_atomic(html_path, _page(doc.title, [f"<h1>{html.escape(doc.title)}</h1>", *doc.html], False))
    write_text_atomic(md_path, "\n".join([f"# {doc.title}", "", *doc.md]).rstrip() + "\n")
    return html_path, md_path
