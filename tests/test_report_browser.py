"""The report's explorer in a real browser: Debian's chromium through chromium-driver, driven by
selenium (never selenium-manager: both binaries are given; nothing is downloaded). The page is
opened from disk with every host unresolvable, then the test switches the objective pair, brushes
a constraint, clicks a design and checks the drill-down against an independent simulation.

Skipped when chromium is absent, except in CI (CI=true), where .ci/run installs it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dla_explorer.sim import config as hw
from dla_explorer.sim import simulator
from dla_explorer.sparsity import checkpoint
from dla_explorer.study import report

from .report_data import tiny_search

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _browser_available() -> bool:
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file() and shutil.which(str(CHROMEDRIVER)) is not None


if not _browser_available():
    if os.environ.get("CI") == "true":
        raise RuntimeError(
            "CI: the report's browser test needs chromium and chromium-driver (.ci/run installs them)"
        )
    pytest.skip(
        "chromium / chromium-driver not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    folder = tiny_search(tmp_path_factory.mktemp("report_browser"))
    report.write_report(folder)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--enable-unsafe-swiftshader",  # WebGL (the parallel coordinates) in software
        "--window-size=1300,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no host resolves
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    # an explicit driver path: selenium does not run selenium-manager (which would download one)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout: float = 20):
    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def _front(rows: pd.DataFrame, x: str, y: str, better: dict[str, str]) -> set[int]:
    """Pareto front of (x, y) by brute force: a design no other design dominates."""
    sign = {k: (-1.0 if v == "max" else 1.0) for k, v in better.items()}
    costs = np.stack([rows[x].to_numpy() * sign[x], rows[y].to_numpy() * sign[y]], axis=1)
    keep = [not np.any(np.all(costs <= p, axis=1) & np.any(costs < p, axis=1)) for p in costs]
    return set(rows.loc[np.array(keep), "trial"].astype(int))


def _table_trials(driver) -> set[int]:
    cells = driver.find_elements(By.CSS_SELECTOR, "#front-table tbody tr td:first-child")
    return {int(cell.text) for cell in cells}


def test_explorer_in_a_browser(results, browser):
    table = pd.read_csv(results / "search.csv")
    feasible = table[table["feasible"].astype(bool)]
    better = {"fps": "max", "power_w": "min", "fps_per_w": "max"}

    browser.get((results / "report.html").as_uri())
    _wait(browser, lambda d: d.execute_script("return !!window.dlaExplorer"))
    assert (
        browser.execute_script(
            "return performance.getEntriesByType('resource').filter(e => /^https?:/.test(e.name)).length"
        )
        == 0
    ), "the report must not load anything from the network"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    # the default pair is the spec's objectives: its front is the brute-force front
    assert _table_trials(browser) == _front(feasible, "power_w", "fps", better)

    # switch the objective pair: frames/s/W against power
    Select(browser.find_element(By.ID, "y-metric")).select_by_value("fps_per_w")
    _wait(browser, lambda d: "frames/s/W" in d.find_element(By.ID, "shown-count").text)
    title = browser.execute_script("return document.getElementById('scatter').layout.yaxis.title.text")
    assert title == "frames/s/W"
    assert _table_trials(browser) == _front(feasible, "power_w", "fps_per_w", better)

    # brush a constraint: lower the power cap with the keyboard on its slider
    slider = browser.find_element(By.ID, "slider-power_w")
    high, step = float(slider.get_attribute("max")), float(slider.get_attribute("step"))
    target = float(feasible["power_w"].median())  # a cap that keeps about half the feasible designs
    slider.click()
    slider.send_keys(Keys.END)
    slider.send_keys(*[Keys.ARROW_LEFT] * int(np.ceil((high - target) / step)))
    cap = float(slider.get_attribute("value"))
    within = feasible[feasible["power_w"] <= cap]
    assert 0 < len(within) < len(feasible), "the test's cap should cut the design space"
    _wait(browser, lambda d: d.find_element(By.ID, "shown-count").text.startswith(f"{len(within)} of "))
    assert _table_trials(browser) == _front(within, "power_w", "fps_per_w", better)
    # the slider brushed the power axis of the parallel coordinates
    brush = browser.execute_script(
        "const p = document.getElementById('parcoords');"
        "const i = p.data[0].dimensions.findIndex(d => d.label === 'power');"
        "return p.data[0].dimensions[i].constraintrange;"
    )
    assert brush[1] == pytest.approx(cap)

    # brush by hand: drag along the frames/s axis of the parallel coordinates
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('#parcoords .y-axis .axis-title'))"
        ".map(e => e.textContent)"
    )
    axis = browser.find_elements(By.CSS_SELECTOR, "#parcoords .axis-brush rect.background")[
        titles.index("frames/s")
    ]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", axis)
    height = axis.rect["height"]
    drag = ActionChains(browser).move_to_element_with_offset(axis, 0, int(-0.45 * height)).click_and_hold()
    drag.move_by_offset(0, int(0.7 * height)).release().perform()
    _wait(browser, lambda d: d.execute_script("return !!window.dlaExplorer.state.ranges.fps"))
    low, high = browser.execute_script("return window.dlaExplorer.state.ranges.fps[0]")
    within = within[within["fps"].between(low, high)]
    assert len(within) > 0
    _wait(browser, lambda d: d.find_element(By.ID, "shown-count").text.startswith(f"{len(within)} of "))
    assert _table_trials(browser) == _front(within, "power_w", "fps_per_w", better)

    # click a design on the front (a point of the scatter, through real mouse events)
    # the front is the one trace drawn with a line
    front_points = "#scatter .scatterlayer .trace:has(path.js-line) path.point"
    points = browser.find_elements(By.CSS_SELECTOR, front_points)
    assert points, "the front's points are drawn"
    target = points[len(points) // 2]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
    time.sleep(0.3)
    ActionChains(browser).move_to_element(target).pause(0.3).click().perform()
    _wait(browser, lambda d: d.find_element(By.ID, "drill").get_attribute("data-trial") != "")
    trial = int(browser.find_element(By.ID, "drill").get_attribute("data-trial"))
    assert trial in _front(within, "power_w", "fps_per_w", better)
    row = table.set_index("trial").loc[trial]

    # the drill-down shows that design's numbers
    assert f"Trial {trial}" in browser.find_element(By.ID, "drill-title").text
    for key in ("fps", "power_w", "k_vec", "c_vec", "q_vec"):
        shown = float(browser.find_element(By.ID, f"drill-{key}").get_attribute("data-value"))
        assert shown == pytest.approx(row[key], rel=1e-5), key

    # ... and its per-layer figures, against an independent single-design simulation
    arch = hw.Architecture.model_validate({f: row[f] for f in hw.ARCH_FIELDS})
    memory = hw.Memory.model_validate(
        {"name": row["memory"], **{f: row[f"mem_{f}"] for f in hw.MEMORY_FIELDS}}
    )
    sparse = checkpoint.load(results.parent / "tiny.npz")
    expected = simulator.simulate(sparse, arch, memory, hw.load_device("stratix10_mx2100")).layers
    chart = browser.execute_script(
        "const t = document.getElementById('drill-time').data;"
        "return {names: t[0].x, compute: t[0].y, memory: t[1].y};"
    )
    assert chart["compute"] == pytest.approx((expected["compute_s"] * 1e6).tolist(), abs=1e-3)
    assert chart["memory"] == pytest.approx((expected["memory_s"] * 1e6).tolist(), abs=1e-3)
    depthwise = expected.loc[expected["kind"] == "depthwise", "layer"].tolist()
    assert depthwise and all(f"{name} (dw)" in chart["names"] for name in depthwise)
    utilisation = browser.execute_script("return document.getElementById('drill-util').data[1].y")
    assert utilisation == pytest.approx(expected["utilization"].tolist(), abs=1e-4)
