"""The HTML report as a reader meets it, in a real headless Chromium (Debian's ``chromium``
with its ``chromedriver``, driven by Selenium; nothing is downloaded at run time).

One report is built from a small store holding a length sweep and a horizon search, with a
hostile model and task name, and opened from its ``file://`` path. The page loads with no
console error and no network request; every figure decodes and has alt text; every column
of the search table sorts both ways; the contents links scroll; headings do not skip a level
and tables have header cells; the hostile names are text that runs nothing; at a phone's
width nothing overflows sideways; printed, figures are not cut by a page break. At a page's
width (1280 px) and a phone's (390 px): the headline figure is shown at a size its smallest
text can be read at (a phone gets the rendering drawn for it), no mark of that figure hides
another and its legend names every mark, and a table wider than the page scrolls in its box
with its first column in view, its last column in reach.

Screenshots at desktop and phone width (the whole page, the headline figure, a wide table
scrolled to its end) go to ``$MEMORYBENCH_SCREENSHOTS`` (else a pytest temporary folder).
Skipped when the browser, its driver or selenium is missing, unless
``MEMORYBENCH_REQUIRE_BROWSER=1`` (``tox -e browser``), where that is a failure.
"""

import base64
import os
import re
import shutil
from pathlib import Path

import pytest
from test_report import cell, store_of
from test_report_searches import search_rows, searched

from memorybench.report import figures, render_report, search_figures, searches, summary
from memorybench.store import Store

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:
    webdriver = None

MISSING = ("selenium is not installed (pip install memorybench[browser])" if webdriver is None
           else "no chromium or chromedriver on PATH (apt-get install chromium chromium-driver)"
           if not (CHROMIUM and DRIVER) else None)
if MISSING:
    if os.environ.get("MEMORYBENCH_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"the browser test is required here, but {MISSING}")
    pytest.skip(f"browser test: {MISSING}", allow_module_level=True)

# Each would set a window flag if the page ran it.
HOSTILE_MODEL = '<img src=x onerror="window.pwnedModel=1">'
HOSTILE_TASK = "<img src=x onerror=window.pwnedTask=1>"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
PAPER = {**DESKTOP, "width": 718}  # A4 at 96 dpi less Chromium's default margins
EMPTY = {"", "—", "-", "none", "n/a"}


SWEPT = (8, 16, 32, 64, 128, 256, 512, 1024)  # the hostile task's: a table wider than a page


def browser_rows():
    """The search store of test_report_searches, a search that solved every length it
    trained at a small learning rate, the hostile model searched and swept, and a hostile
    task swept at eight lengths."""
    rows = search_rows()
    for n in (8, 16):
        for seed in range(2):
            row = searched("adding", "gru", n, seed, True)
            row["config"]["train"]["lr"] = 1e-5  # shown as "1e-05": a number, not 1
            rows.append(row)
            rows.append(searched("copy", HOSTILE_MODEL, n, seed, n == 8))
    rows += [cell(HOSTILE_TASK, "lstm", n, seed, 0.95 if n == 8 else 0.4 + 0.1 * seed)
             for n in SWEPT for seed in range(2)]
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return store_of(tmp_path_factory.mktemp("store") / "b.db", browser_rows())


@pytest.fixture(scope="module")
def page(store, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    render_report(store, folder / "report")
    return (folder / "report" / "index.html").resolve()


@pytest.fixture(scope="module")
def driver(page):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-extensions", "--no-first-run", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path given: Selenium Manager then downloads nothing.
    chrome = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    chrome.set_page_load_timeout(30)
    chrome.get(page.as_uri())
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = os.environ.get("MEMORYBENCH_SCREENSHOTS")
    folder = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def reload(driver, page, size=DESKTOP):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", size)
    driver.get(page.as_uri())


def test_the_page_loads_from_a_file_with_no_console_error_and_no_network(driver, page):
    reload(driver, page)
    assert driver.current_url.startswith("file://")
    assert driver.title.startswith("memorybench report")
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert [u for u in fetched if not u.startswith(("file:", "data:"))] == []
    sources = driver.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('[src], link[href]'),"
        " function (e) { return e.getAttribute('src') || e.getAttribute('href'); })")
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


def test_every_figure_decodes_and_has_alt_text(driver, page):
    reload(driver, page)
    images = driver.execute_script(
        "return Array.prototype.map.call(document.images, function (i) {"
        " return [i.complete, i.naturalWidth, i.getAttribute('alt')]; })")
    assert len(images) >= 4  # horizon search, memory horizon, a figure per task at least
    for complete, width, alt in images:
        assert complete and width > 0
        assert alt and alt.strip()


def cells(driver):
    """The search table's body, row by row, as the page shows it now."""
    return driver.execute_script(
        "return Array.prototype.map.call(document.getElementById('search-table').tBodies[0]"
        ".rows, function (r) { return Array.prototype.map.call(r.cells,"
        " function (c) { return c.textContent.trim(); }); })")


def column(driver, col):
    return [row[col] for row in cells(driver)]


def rows_of(driver):
    return sorted(map(tuple, cells(driver)))


NUMBER = re.compile(r"^(<|≥)?\s*\[?\s*(-?[0-9][0-9,]*(\.[0-9]+)?(e[-+]?[0-9]+)?)(?=$|[\s),–])")


def number(text):
    """A cell's sort number as the page's script reads it, with "<"/"≥" just below/above."""
    m = NUMBER.match(text)
    return m and (float(m[2].replace(",", "")), {"<": -1, "≥": 1}.get(m[1], 0))


def text_key(text):
    return [(0, int(c), "") if c.isdigit() else (1, 0, c)
            for c in re.findall(r"[0-9]+|[^0-9]+", text.lower())]


def in_order(values, up):
    """Values with a value sorted by number (a column of numbers) or as text, both ways;
    cells without one ("—", "none") last."""
    full = [v for v in values if v not in EMPTY]
    assert values[len(full):] == sorted(v for v in values if v in EMPTY)
    numeric = all(number(v) for v in full)
    key = [(number(v), text_key(v)) if numeric else text_key(v) for v in full]
    return key == sorted(key, reverse=not up)


def test_every_column_of_the_search_table_sorts_both_ways(driver, page):
    reload(driver, page)
    headers = driver.find_elements(By.CSS_SELECTOR, "#search-table thead th")
    names = [h.text for h in headers]
    assert "horizon" in names and "learning rate" in names
    before = rows_of(driver)
    for col, header in enumerate(headers):
        for up in (True, False):
            header.click()
            assert header.get_attribute("aria-sort") == ("ascending" if up else "descending")
            assert in_order(column(driver, col), up), (names[col], column(driver, col))
            assert rows_of(driver) == before  # rows move whole
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_horizons_and_rates_sort_as_numbers(driver, page):
    reload(driver, page)
    names = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#search-table thead th")]
    horizon, lr = names.index("horizon"), names.index("learning rate")
    header = driver.find_elements(By.CSS_SELECTOR, "#search-table thead th")
    header[horizon].click()
    values = column(driver, horizon)
    assert values[0] == "< 8" and values[-1] == "≥ 16 (open)"
    assert values.index("[8, 16)") < values.index("[16, 32)")  # 8 before 16, not as text
    header[horizon].click()
    assert column(driver, horizon)[0] == "≥ 16 (open)"
    header[lr].click()
    values = column(driver, lr)
    assert values[0].startswith("1e-05") and values[-1] == "—"
    header[lr].send_keys(Keys.ENTER)  # a keyboard sorts too
    values = column(driver, lr)
    assert values[0].startswith("0.01") and values[-1] == "—"  # no value: last both ways


def test_contents_links_scroll_to_their_sections(driver, page):
    reload(driver, page)
    links = driver.find_elements(By.CSS_SELECTOR, "nav a")
    targets = [a.get_attribute("href").split("#", 1)[1] for a in links]
    assert "horizon-search" in targets and "facts" in targets
    for link, target in zip(links, targets, strict=True):
        driver.execute_script("window.scrollTo(0, 0)")
        driver.execute_script("arguments[0].click()", link)
        top = driver.execute_script(
            "return document.getElementById(arguments[0]).getBoundingClientRect().top", target)
        assert driver.execute_script("return window.scrollY") > 0, target
        assert -2 <= top < driver.execute_script("return window.innerHeight"), target


def test_hostile_names_are_text_and_run_nothing(driver, page):
    reload(driver, page)
    flags = driver.execute_script("return [window.pwnedModel, window.pwnedTask]")
    assert flags == [None, None]
    assert driver.execute_script("return document.querySelectorAll('img[onerror]').length") == 0
    assert HOSTILE_MODEL in column(driver, 0)
    text = driver.find_element(By.TAG_NAME, "body").text
    assert f"Task {HOSTILE_TASK}" in text


def test_headings_do_not_skip_a_level_and_tables_have_header_cells(driver, page):
    reload(driver, page)
    levels = driver.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('h1,h2,h3,h4,h5,h6'),"
        " function (h) { return +h.tagName[1]; })")
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    tables = driver.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('table'), function (t) {"
        " return [t.id, t.querySelectorAll('thead th[scope=col]').length,"
        " t.rows[0].cells.length, t.parentElement.className]; })")
    assert len(tables) >= 5
    for name, headers, width, box in tables:
        assert headers == width > 0, name
        assert box == "scroll", name  # wide tables scroll in their own box


def full_page(driver, path):
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.parametrize("name, size", [("desktop", DESKTOP), ("phone", PHONE)])
def test_nothing_overflows_sideways(driver, page, screenshots, name, size):
    reload(driver, page, size)
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert size["width"] - 20 <= width <= size["width"]  # less a scroll bar, if any
    scroll = driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= width
    full_page(driver, screenshots / f"report-{name}.png")
    assert (screenshots / f"report-{name}.png").stat().st_size > 0


def test_printed_figures_are_not_split_across_pages(driver, page, screenshots):
    reload(driver, page, PAPER)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        breaks = driver.execute_script(
            "return Array.prototype.map.call(document.querySelectorAll('figure, img, tr'),"
            " function (e) { return getComputedStyle(e).breakInside; })")
        assert set(breaks) == {"avoid"}
        boxes = driver.execute_script(
            "return Array.prototype.map.call(document.querySelectorAll('.scroll'),"
            " function (e) { return getComputedStyle(e).overflowX; })")
        assert set(boxes) == {"visible"}  # on paper a table shows whole, nothing to scroll
        assert driver.execute_script("return document.documentElement.scrollWidth <="
                                     " document.documentElement.clientWidth")
        assert driver.execute_script(  # paper takes the page's headline, not the phone's
            "var img = document.querySelector(arguments[0]);"
            " return img.currentSrc === img.src", HEADLINE)
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
    (screenshots / "report.pdf").write_bytes(base64.b64decode(pdf["data"]))


HEADLINE = "#horizon-search figure img"
# The headline's smallest text (tick labels and legend, 13 pt) in the figure's own pixels,
# and the smallest a reader is asked to read on a screen, in CSS pixels.
SMALLEST_TEXT = min(figures.RC[k] for k in ("xtick.labelsize", "ytick.labelsize",
                                            "legend.fontsize")) * figures.RC["figure.dpi"] / 72
READABLE = 11


@pytest.mark.parametrize("name, size", [("desktop", DESKTOP), ("phone", PHONE)])
def test_the_headline_figure_is_shown_at_a_size_its_text_can_be_read(driver, page, screenshots,
                                                                      name, size):
    """Scaled to fit the page, the figure drawn for a page's width would show its 13 pt text
    at 6 px on a phone: a phone is shown the rendering drawn for it, and either is shown at
    a scale that keeps its smallest text at 11 px or more."""
    reload(driver, page, size)
    figure = driver.find_element(By.CSS_SELECTOR, "#horizon-search figure")
    driver.execute_script("arguments[0].scrollIntoView()", figure)
    shown = driver.execute_script(
        "var img = document.querySelector(arguments[0]);"
        "var source = img.parentElement.querySelector('source');"
        "return {complete: img.complete, width: img.getBoundingClientRect().width,"
        " natural: img.naturalWidth, current: img.currentSrc, page: img.src,"
        " phone: source && source.srcset};", HEADLINE)
    assert shown["complete"] and shown["natural"] > 0
    assert shown["phone"], "the headline has no rendering for a phone"
    assert shown["current"] == (shown["phone"] if name == "phone" else shown["page"])
    text = shown["width"] / shown["natural"] * SMALLEST_TEXT
    assert text >= READABLE, f"the headline's smallest text is {text:.1f} px at {name} width"
    figure.screenshot(str(screenshots / f"headline-{name}.png"))


def headline_data(driver, page, size) -> bytes:
    """The headline PNG the page shows at ``size``."""
    reload(driver, page, size)
    url = driver.execute_script("return document.querySelector(arguments[0]).currentSrc",
                                HEADLINE)
    return base64.b64decode(url.removeprefix("data:image/png;base64,"))


@pytest.mark.parametrize("narrow, size", [(False, DESKTOP), (True, PHONE)])
def test_no_mark_of_the_shown_headline_hides_another_and_its_legend_names_each(
        driver, page, store, narrow, size):
    """The figure the page shows at each width, drawn again with its marks' boxes
    (``search_figures.headline``): no two marks overlap, and every kind of mark drawn
    (solved, failed, failed the first length, ↗, ≥, not learned, a seed's horizon) has its
    line in the legend."""
    found = searches.results(summary.normalise(Store(store, readonly=True).frame()))
    shown = [{**s, "label": searches.display(s), "group": searches.group_of(s)} for s in found]
    drawn = search_figures.headline(shown, searches.model_labels(found), narrow)
    assert drawn.png == headline_data(driver, page, size)  # the very figure on the page
    assert search_figures.overlaps(drawn.marks) == []
    kinds = {m.kind for m in drawn.marks}
    assert {"solved", "failed", "first-rung", "seed"} <= kinds
    assert {search_figures.MARKS[k][0] for k in kinds} <= set(drawn.legend)


TABLES = """
return Array.prototype.map.call(document.querySelectorAll('table'), function (t) {
  var box = t.parentElement, page = document.documentElement.clientWidth;
  var edges = function () {
    var first = Array.prototype.map.call(t.rows, function (r) {
      return r.cells[0].getBoundingClientRect(); });
    var head = t.rows[0].cells, last = head[head.length - 1].getBoundingClientRect();
    return {left: Math.min.apply(null, first.map(function (r) { return r.left; })),
            right: Math.max.apply(null, first.map(function (r) { return r.right; })),
            last: last.right};
  };
  var r = box.getBoundingClientRect();
  box.scrollLeft = box.scrollWidth;  // as far right as a reader can scroll it
  var end = edges();
  box.scrollLeft = 0;
  return {id: t.id, wide: t.offsetWidth > box.clientWidth + 1, page: page,
          overflow: getComputedStyle(box).overflowX, left: r.left,
          right: r.left + box.clientWidth, end: end};
});
"""


@pytest.mark.parametrize("name, size", [("desktop", DESKTOP), ("phone", PHONE)])
def test_a_wide_table_scrolls_with_its_first_column_in_view(driver, page, screenshots, name,
                                                           size):
    """Every table's box fits the page; a table wider than its box scrolls in it, and
    scrolled to its end its last column is in reach and its first column (each row's name)
    still in view, at most half the box wide. The hostile task's eight lengths make one such
    table at each width."""
    reload(driver, page, size)
    boxes = driver.execute_script(TABLES)
    assert any(b["wide"] for b in boxes), "no table here is wider than the page"
    for b in boxes:
        end = b["end"]
        assert b["right"] <= b["page"] + 0.5, b["id"]  # the box itself is not cut
        assert end["last"] <= b["right"] + 1, b["id"]  # the last column can be reached
        if b["wide"]:
            assert b["overflow"] in ("auto", "scroll"), b["id"]
            assert b["left"] - 1 <= end["left"] and end["right"] <= b["right"], b["id"]
            assert end["right"] - b["left"] <= (b["right"] - b["left"]) / 2, b["id"]
    widest = max((b for b in boxes if b["wide"]), key=lambda b: b["end"]["last"] - b["right"])
    box = driver.execute_script("var box = document.getElementById(arguments[0]).parentElement;"
                                "box.scrollIntoView(); box.scrollLeft = box.scrollWidth;"
                                " return box;", widest["id"])
    box.screenshot(str(screenshots / f"table-scrolled-{name}.png"))
