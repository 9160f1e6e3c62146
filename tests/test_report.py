"""The HTML report, built from two small executed notebooks and checked in headless Chromium (Debian's, via playwright)."""

import base64
import io
import shutil
from dataclasses import replace

import matplotlib
import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image, ImageStat

from dragon_repro.experiments.plan import resolve_plan
from dragon_repro.presentation.report import build_report

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PROFILE = "testprofile"


def plan_in(root, notebooks):
    """A plan labelled PROFILE whose analysis is `notebooks`, its executed notebooks and report under `root`."""
    plan = resolve_plan("smoke")
    folders = replace(plan.folders, executed=root / "executed" / PROFILE, report=root / "report" / PROFILE)
    return replace(plan, profile=PROFILE, label=PROFILE, analysis=tuple(notebooks), folders=folders)


def png_output(seed: int):
    fig, ax = plt.subplots(figsize=(4, 3), dpi=60)
    ax.plot(range(10), [(i * seed) % 7 for i in range(10)], linewidth=3)
    ax.set_title(f"figure {seed}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return new_output("display_data", data={"image/png": base64.b64encode(buffer.getvalue()).decode(),
                                            "text/plain": "<Figure>"})


def table_output(marker: str):
    frame = pd.DataFrame({"metric": [marker, "auc"], "value": [0.91, 0.87]})
    return new_output("execute_result", data={"text/html": frame.to_html(), "text/plain": str(frame)},
                      execution_count=3)


def executed_notebook(marker: str, seeds: list[int]):
    """What papermill leaves behind: parameters and injected-parameters cells, a figure per seed, an HTML table."""
    return new_notebook(cells=[
        new_markdown_cell(f"## {marker}\n\nSome prose about {marker}."),
        new_code_cell("profile = 'cpu'  # PARAMETERS_DEFAULT", metadata={"tags": ["parameters"]}),
        new_code_cell("profile = 'testprofile'  # PARAMETERS_INJECTED", metadata={"tags": ["injected-parameters"]}),
        new_code_cell("fig = plot_figures()  # CODE_INPUT_SOURCE", outputs=[png_output(s) for s in seeds],
                      execution_count=2),
        new_code_cell("table  # CODE_INPUT_SOURCE", outputs=[table_output(f"{marker}-table")], execution_count=3),
    ], metadata={"kernelspec": {"name": "dragon-repro", "display_name": "Python (dragon-repro)", "language": "python"},
                 "language_info": {"name": "python"}})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    notebooks = {"00_verdicts": executed_notebook("FIRST_NOTEBOOK", [1, 2]),
                 "20_figures": executed_notebook("SECOND_NOTEBOOK", [3])}
    plan = plan_in(tmp_path_factory.mktemp("output"), notebooks)
    plan.folders.executed.mkdir(parents=True)
    for name, notebook in notebooks.items():
        nbformat.write(notebook, plan.folders.executed / f"{name}.ipynb")
    path = build_report(plan)
    assert path == plan.folders.report / "index.html"
    images = sum("image/png" in out.get("data", {}) for nb in notebooks.values() for c in nb.cells
                 for out in c.get("outputs", []))
    return path, images


@pytest.fixture(scope="module")
def page(built):
    """The report opened from disk in headless Chromium; any request that is not file: or data: is refused."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM}: run ./run_tests.sh (installs it) or "
                    "`apt-get update && apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright
    path, _ = built
    with sync_playwright() as playwright:
        # launch() gives every browser a fresh temporary profile (user-data-dir) and runs it headless.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                       else route.abort())
            page.goto(path.as_uri(), wait_until="load")
            yield page
        finally:
            browser.close()


def test_report_is_written_where_expected(built):
    path, _ = built
    assert path.name == "index.html" and path.parent.name == PROFILE and path.stat().st_size > 0


def test_page_is_not_blank(page, tmp_path):
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    image = Image.open(shot).convert("L")
    non_white = sum(count for level, count in enumerate(image.histogram()) if level < 200)
    assert ImageStat.Stat(image).stddev[0] > 10, "screenshot has almost no pixel variance"
    assert non_white / (image.width * image.height) > 0.005, "screenshot is almost all white"


def test_every_image_loads_and_none_is_missing(page, built):
    _, image_outputs = built
    images = page.evaluate("Array.from(document.images, i => ({src: i.src.slice(0, 22), complete: i.complete,"
                           " width: i.naturalWidth}))")
    assert len(images) == image_outputs == 3
    for image in images:
        assert image["complete"] and image["width"] > 0, image
        assert image["src"] == "data:image/png;base64,", "images must be embedded so the page needs no server"


def test_html_tables_are_shown(page):
    text = page.inner_text("body")
    assert page.locator("table").count() == 2
    assert "FIRST_NOTEBOOK-table" in text and "SECOND_NOTEBOOK-table" in text


def test_no_code_inputs_prompts_or_parameters(page, built):
    path, _ = built
    html = path.read_text()
    text = page.inner_text("body")
    for hidden in ("CODE_INPUT_SOURCE", "PARAMETERS_DEFAULT", "PARAMETERS_INJECTED"):
        assert hidden not in html and hidden not in text
    assert page.locator(".jp-CodeCell .jp-InputArea, .jp-InputPrompt, .jp-OutputPrompt").count() == 0


def test_header_then_notebooks_in_order(page):
    text = page.inner_text("body")
    header, first, second = (text.find(s) for s in ("dragon-repro report", "FIRST_NOTEBOOK", "SECOND_NOTEBOOK"))
    assert PROFILE in text[:200] and "git" in text[:300]
    assert 0 <= header < first < second


def test_missing_executed_notebook_is_named(tmp_path):
    plan = plan_in(tmp_path, ["00_verdicts", "20_x"])  # the plan's analysis notebooks, one of them not executed
    plan.folders.executed.mkdir(parents=True)
    nbformat.write(executed_notebook("ONLY", [1]), plan.folders.executed / "00_verdicts.ipynb")
    with pytest.raises(FileNotFoundError, match="20_x.ipynb") as error:
        build_report(plan)
    assert "00_verdicts" not in str(error.value)
    assert not plan.folders.report.exists()
