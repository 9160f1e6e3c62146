"""The report: every executed analysis notebook of a profile merged into one self-contained HTML page.

Code inputs, prompts and papermill parameter cells are left out; figures are embedded as data URIs by nbconvert,
so `report/<profile>/index.html` opens from disk with no server.
"""

from datetime import datetime, timezone
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter

from ..atomic import write_text_atomic
from ..experiments.plan import Plan
from ..gitstate import git_state

DROPPED_TAGS = {"parameters", "injected-parameters"}


def _header(profile: str, git: dict) -> str:
    sha = git["git_sha"] or "unknown"
    dirty = " (uncommitted changes)" if git["git_dirty"] else ""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"# dragon-repro report\n\nProfile `{profile}` · built {date} · git `{sha}`{dirty}"


def _without_stderr(cell):
    """Warnings and progress bars belong to the executed notebooks, not to the report."""
    if cell.cell_type == "code":
        cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    return cell


def build_report(plan: Plan, git: dict | None = None) -> Path:
    """Merge the plan's executed analysis notebooks, in order, into `index.html` in its report folder.

    `git` is the state of the code the notebooks ran (the pipeline reads it before writing any output); by default,
    the state now."""
    paths = [plan.folders.executed / f"{name}.ipynb" for name in plan.analysis]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"report for {plan.label!r}: executed notebook(s) missing: {', '.join(missing)}")

    sources = [nbformat.read(path, as_version=4) for path in paths]
    merged = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(_header(plan.label, git or git_state()))])
    merged.metadata["title"] = f"dragon-repro report ({plan.label})"
    if sources:  # kernel and language, for syntax highlighting of any code in outputs
        merged.metadata |= {k: v for k, v in sources[0].metadata.items() if k in ("kernelspec", "language_info")}
    for source in sources:
        merged.cells += [_without_stderr(cell) for cell in source.cells
                         if not DROPPED_TAGS & set(cell.metadata.get("tags", []))]
    for number, cell in enumerate(merged.cells):  # cell ids must stay unique across the merged notebooks
        cell["id"] = f"cell-{number}"

    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    html, _ = exporter.from_notebook_node(merged)
    out = plan.folders.report / "index.html"
    write_text_atomic(out, html)
    return out
