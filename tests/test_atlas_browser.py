"""The atlas in a real browser: headless Chromium opens the index and pages from file://.

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Screenshots are kept under
``test-artifacts/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bench.atlas import synthetic_dataset
from pipeline.atlas import AtlasSettings, build
from pipeline.atlas.browser import Chromium

EVIL = '<script>alert(1)</script> "quotes"'
NEURONS, BANDS, PER_BAND, PAGE = 50, 6, 4, 20
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("atlas-browser")
    dataset = synthetic_dataset(root / "dataset", NEURONS, BANDS, 6, size=16,
                                intersections=[(EVIL, [0, 1])])
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
    assert [float(v) for v in cells(browser, 7)] == [round(v, 3) for v in values[:PAGE]]
    act(browser, click)
    assert [float(v) for v in cells(browser, 7)] == [round(v, 3) for v in values[::-1][:PAGE]]
    # the state lives in the URL: a reload keeps the order
    browser.evaluate("location.reload()")
    browser.wait_for("document.body && document.body.dataset.ready === '1'")
    assert [float(v) for v in cells(browser, 7)] == [round(v, 3) for v in values[::-1][:PAGE]]


def test_neuron_page_shows_bands_and_loads_images(atlas: Path, entries: list[dict],
                                                  browser: Chromium) -> None:
    entry = next(e for e in entries if e["kind"] == "neuron" and e["reached"] == BANDS)
    browser.open(atlas.parent / entry["page"])
    marks = body(browser)
    assert marks["images"] == marks["loaded"] == str(PER_BAND * BANDS)
    assert browser.evaluate("document.querySelectorAll('tr.band').length") == BANDS
    titles = browser.evaluate("Array.from(document.images).map(i => i.title)")
    assert all(t.startswith("activation ") for t in titles)
    assert browser.evaluate("document.querySelector('h1').textContent") == entry["label"]
    browser.screenshot(ARTIFACTS / "atlas-neuron.png")
    assert (ARTIFACTS / "atlas-neuron.png").stat().st_size > 10_000


def test_hostile_names_stay_text(atlas: Path, entries: list[dict], browser: Chromium) -> None:
    entry = next(e for e in entries if e["kind"] == "intersection")
    browser.open(atlas.parent / entry["page"])
    assert browser.evaluate("document.querySelector('h1').textContent") == EVIL
    assert browser.evaluate("document.scripts.length") == 1  # page.js only
    browser.open(atlas, "document.body.dataset.ready")
    search(browser, "<script>")
    assert cells(browser, 2) == [EVIL]
    assert browser.evaluate("document.querySelectorAll('#entries script').length") == 0
