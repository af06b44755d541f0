"""The atlas in a real browser: headless Chromium opens the index and pages from file://.

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Screenshots are kept under
``test-artifacts/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bench import atlas as bench_atlas
from bench.atlas import synthetic_dataset
from pipeline.atlas import AtlasSettings, build
from pipeline.atlas.browser import Chromium

EVIL = '<script>alert(1)</script> "quotes"'
NEURONS, BANDS, PER_BAND, PAGE = 50, 6, 4, 20
BIG = 300  # samples per band of one extra neuron (2 bands), for the lazy all-samples page
SCREENS = {"wide": (1280, 900, False), "phone": (390, 844, True)}
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("atlas-browser")
    dataset = synthetic_dataset(root / "dataset", NEURONS, BANDS, 6, size=16,
                                intersections=[(EVIL, [0, 1])])
    synthetic_dataset(dataset, bands=2, samples=BIG, size=16, units=[NEURONS], seed=2)
    return build(dataset, root / "atlas", AtlasSettings(per_band=PER_BAND, page_size=PAGE))


@pytest.fixture(scope="module")
def entries(atlas: Path) -> list[dict]:
    text = (atlas.parent / "data" / "atlas.js").read_text()
    return json.loads(text[len("window.ATLAS = "):].rstrip().rstrip(";"))["entries"]


@pytest.fixture
def browser() -> Chromium:
    with Chromium() as chromium:
        yield chromium
        assert chromium.errors() == []  # no uncaught exception, console error or dialog


def body(browser: Chromium) -> dict[str, str]:
    return browser.evaluate("Object.assign({}, document.body.dataset)")


def cells(browser: Chromium, column: int) -> list[str]:
    return browser.evaluate(
        f"Array.from(document.querySelectorAll('#entries tbody tr td:nth-child({column})'))"
        ".map(td => td.textContent)"
    )


def act(browser: Chromium, script: str) -> dict[str, str]:
    """Run an action that re-renders the table; wait for its images; return the body marks."""
    before = int(body(browser)["ready"])
    browser.evaluate(script)
    browser.wait_for(f"Number(document.body.dataset.ready) > {before}")
    return body(browser)


def search(browser: Chromium, text: str) -> dict[str, str]:
    """Type ``text`` into the search box."""
    return act(browser, "(() => { const q = document.getElementById('q'); "
                        f"q.value = {json.dumps(text)}; q.dispatchEvent(new Event('input')); }})()")


def test_index_loads_pages_and_screenshots(
    atlas: Path, entries: list[dict], browser: Chromium
) -> None:
    browser.open(atlas, "document.body.dataset.ready")
    marks = body(browser)
    assert marks["rows"] == str(PAGE) and marks["loaded"] == marks["images"] == str(PAGE)
    assert cells(browser, 3) == [e["name"] for e in entries[:PAGE]]
    assert browser.evaluate("document.getElementById('pageinfo').textContent").startswith(
        f"page 1 of {-(-len(entries) // PAGE)}"
    )
    shot = browser.screenshot(ARTIFACTS / "atlas-index.png")
    with Image.open(shot) as image:
        assert image.width > 800 and image.height > 400
    marks = act(browser, "document.getElementById('next').click()")
    assert cells(browser, 3) == [e["name"] for e in entries[PAGE: 2 * PAGE]]
    marks = act(browser, "document.getElementById('next').click()")
    assert marks["rows"] == str(len(entries) - 2 * PAGE) and marks["loaded"] == marks["rows"]


def test_index_search_and_sort(atlas: Path, entries: list[dict], browser: Chromium) -> None:
    browser.open(atlas, "document.body.dataset.ready")
    marks = search(browser, "SHARK")
    sharks = [e["label"] for e in entries if "shark" in e["label"].lower()]
    assert sharks and marks["matching"] == str(len(sharks)) and cells(browser, 2) == sharks
    search(browser, "")
    click = "document.querySelector('th[data-sort=diversity] button').click()"
    act(browser, click)
    values = sorted(e["diversity"] for e in entries if e["diversity"] is not None)
    assert [float(v) for v in cells(browser, 8)] == [round(v, 3) for v in values[:PAGE]]
    act(browser, click)
    assert [float(v) for v in cells(browser, 8)] == [round(v, 3) for v in values[::-1][:PAGE]]
    # the state lives in the URL: a reload keeps the order
    browser.evaluate("location.reload()")
    browser.wait_for("document.body && document.body.dataset.ready === '1'")
    assert [float(v) for v in cells(browser, 8)] == [round(v, 3) for v in values[::-1][:PAGE]]


def choose(browser: Chromium, element: str, value: str) -> dict[str, str]:
    """Set a select or input of the index and let it re-render."""
    return act(browser, f"(() => {{ const e = document.getElementById('{element}'); "
                        f"e.value = {json.dumps(value)}; "
                        "e.dispatchEvent(new Event(e.tagName === 'INPUT' ? 'input' : 'change')); "
                        "})()")


def test_index_filters_on_status_and_diagnostics(atlas: Path, entries: list[dict],
                                                 browser: Chromium) -> None:
    browser.open(atlas, "document.body.dataset.ready")
    marks = choose(browser, "status", "infeasible")
    infeasible = [e["name"] for e in entries if e["statuses"]["infeasible"]]
    assert infeasible and marks["matching"] == str(len(infeasible))
    assert all("infeasible" in text for text in cells(browser, 6))
    choose(browser, "status", "")
    choose(browser, "fcol", "rhat")
    choose(browser, "fop", "le")
    marks = choose(browser, "fval", "1.25")
    good = [e for e in entries if e["rhat"] is not None and e["rhat"] <= 1.25]
    assert 0 < len(good) < len(entries) and marks["matching"] == str(len(good))
    assert all(float(v) <= 1.25 for v in cells(browser, 9))
    act(browser, "document.querySelector('th[data-sort=ess] button').click()")
    ess = sorted(e["ess"] for e in good)
    assert [float(v) for v in cells(browser, 10)] == [round(v) for v in ess[:PAGE]]
    legend = browser.evaluate("document.querySelector('details.legend').textContent")
    assert "R-hat" in legend and "below 1.1" in legend and "partial" in legend


def test_neuron_page_shows_bands_map_and_zoom(atlas: Path, entries: list[dict],
                                              browser: Chromium) -> None:
    entry = next(e for e in entries if e["kind"] == "neuron" and e["reached"] == BANDS)
    browser.open(atlas.parent / entry["page"])
    marks = body(browser)
    assert marks["images"] == marks["loaded"] == str(BANDS)  # one sprite sheet per band
    assert marks["cells"] == str(PER_BAND * BANDS) and marks["points"] == str(entry["samples"])
    assert browser.evaluate("document.querySelectorAll('section.band').length") == BANDS
    titles = browser.evaluate(
        "Array.from(document.querySelectorAll('.bands .cell')).map(c => c.title)")
    assert len(titles) == PER_BAND * BANDS and all(t.startswith("activation ") for t in titles)
    assert browser.evaluate("document.querySelector('h1').textContent") == entry["label"]
    # hover over a dot of the map: the tip shows its thumbnail and activation
    where = browser.evaluate(
        "(() => { const b = window.ENTRY.bands[0], c = document.getElementById('map'); "
        "const r = c.getBoundingClientRect(), w = c.clientWidth, h = c.clientHeight; "
        "const side = Math.min(w - 12, h - 12); "
        "return [r.left + 6 + (w - 12 - side) / 2 + b.x[0] * side, "
        "r.top + 6 + (h - 12 - side) / 2 + (1 - b.y[0]) * side]; })()")
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", {"type": kind, "x": where[0], "y": where[1],
                     "button": "left", "clickCount": 1}, browser.session)
        if kind == "mouseMoved":
            tip = browser.evaluate("document.getElementById('tip').hidden ? null : "
                                   "document.querySelector('#tip p').textContent")
            assert tip is not None and "activation " in tip
    assert browser.evaluate("document.getElementById('zoom').hidden") is False
    assert browser.evaluate("document.body.dataset.zoomed").endswith(":0")
    browser.evaluate("document.getElementById('zoom').click()")
    assert browser.evaluate("document.getElementById('zoom').hidden") is True
    browser.screenshot(ARTIFACTS / "atlas-neuron.png")
    assert (ARTIFACTS / "atlas-neuron.png").stat().st_size > 10_000


def test_band_page_loads_all_samples_lazily_in_each_order(atlas: Path, entries: list[dict],
                                                           browser: Chromium) -> None:
    entry = next(e for e in entries if e["name"] == f"classifier.1:{NEURONS}")
    browser.open(atlas.parent / entry["page"])
    band = browser.evaluate("window.ENTRY.bands[0]")
    assert band["n"] == BIG
    browser.open(atlas.parent / "bands" / f"{band['job']}.html")
    shown = int(body(browser)["shown"])
    assert 0 < shown < BIG  # the first pages only
    first = browser.evaluate("Array.from(document.querySelectorAll('#cells .cell'))"
                             ".map(c => Number(c.dataset.i))")
    assert first == band["diverse"][:shown]
    while int(body(browser)["shown"]) < BIG:  # scrolling down loads the rest
        before = int(body(browser)["shown"])
        browser.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        browser.wait_for(f"Number(document.body.dataset.shown) > {before}")
    acts = [a[0] for a in band["act"]]
    browser.evaluate("(() => { const s = document.getElementById('order'); "
                     "s.value = 'act-desc'; s.dispatchEvent(new Event('change')); })()")
    order = browser.evaluate("Array.from(document.querySelectorAll('#cells .cell'))"
                             ".map(c => Number(c.dataset.i))")
    assert [acts[i] for i in order] == sorted(acts, reverse=True)[: len(order)]
    assert browser.evaluate("location.hash") == "#order=act-desc"
    browser.evaluate("(() => { const s = document.getElementById('order'); "
                     "s.value = 'chain'; s.dispatchEvent(new Event('change')); })()")
    chains = browser.evaluate("Array.from(document.querySelectorAll('#cells .cell'))"
                              ".map(c => window.ENTRY.bands[0].chain[Number(c.dataset.i)])")
    assert chains == sorted(chains)
    assert body(browser)["loaded"] == "1"


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_pages_fit_the_screen(atlas: Path, entries: list[dict], browser: Chromium,
                              screen: str) -> None:
    width, height, mobile = SCREENS[screen]
    browser.viewport(width, height, mobile)
    entry = next(e for e in entries if e["name"] == f"classifier.1:{NEURONS}")
    browser.open(atlas, "document.body.dataset.ready")
    assert not browser.overflows()
    browser.screenshot(ARTIFACTS / f"atlas-index-{screen}.png")
    browser.open(atlas.parent / entry["page"])
    assert not browser.overflows()
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('.bands .cells')).map(c => "
        "[c.getBoundingClientRect().right, new Set(Array.from(c.children).map("
        "x => x.getBoundingClientRect().top)).size])")
    assert all(right <= width for right, _ in rows)
    browser.screenshot(ARTIFACTS / f"atlas-neuron-{screen}.png")
    band = browser.evaluate("window.ENTRY.bands[0].job")
    browser.open(atlas.parent / "bands" / f"{band}.html")
    assert not browser.overflows()
    tops = browser.evaluate("new Set(Array.from(document.querySelectorAll('#cells .cell'))"
                            ".map(c => c.getBoundingClientRect().top)).size")
    assert tops > 1  # the samples wrap into rows
    browser.screenshot(ARTIFACTS / f"atlas-band-{screen}.png")


def test_hostile_names_stay_text(atlas: Path, entries: list[dict], browser: Chromium) -> None:
    entry = next(e for e in entries if e["kind"] == "intersection")
    browser.open(atlas.parent / entry["page"])
    assert browser.evaluate("document.querySelector('h1').textContent") == EVIL
    assert browser.evaluate("document.scripts.length") == 3  # data, cells.js, page.js
    browser.open(atlas, "document.body.dataset.ready")
    search(browser, "<script>")
    assert cells(browser, 2) == [EVIL]
    assert browser.evaluate("document.querySelectorAll('#entries script').length") == 0


def test_benchmark_runs_small(tmp_path: Path) -> None:
    result = bench_atlas.run(neurons=3, bands=2, samples=7, size=8, added=1, workers=1,
                             work=tmp_path)
    assert result["errors"] == [] and result["page_marks"]["points"] == str(2 * 7)
    assert result["files"] <= 7 + 6 * (3 + 1 + 1) * 2  # a few files per neuron x band
    assert not list((tmp_path / "atlas").rglob("thumbs"))
    text = bench_atlas.table(result)
    assert text.count("\n| ") == 8 and "added 1 neurons" in text
    assert "job records in one process" in text  # read_jobs timed on its own
