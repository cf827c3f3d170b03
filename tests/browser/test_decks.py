"""Every slide of every lecture deck, looked at in Chromium at 1280x720, offline.

Run: ``DGM_FAST=1 .venv/bin/python -m pytest -m browser tests/browser/test_decks.py``.

The decks are built by ``build.main(["--out", <tmp>])`` of lectures/_slides/build.py: the very
function ``make slides`` runs (its recipe is ``$(BIN)/python lectures/_slides/build.py --out
$(SLIDES_DIR)``, and build.py ends in ``sys.exit(main())``);
:func:`test_make_slides_runs_the_function_these_tests_build_with` reads mk/slides.mk and fails if
that recipe ever runs something else. Each deck is opened as a file (``file://``, as on the lectern
PC), every request that would leave loopback is recorded and refused, and every slide is shown in
turn (``Reveal.slide(h, v)``, all fragments revealed, MathJax done) and screenshotted into
``$DGM_ARTIFACTS/decks/<deck>/`` (default ``test-artifacts/decks/<deck>/``, git-ignored), next to
``report.txt``: each slide's title, its problems and the scale of its figures.

A deck fails, listing slide by slide: content taller or wider than the slide (the slide scrolls),
a box whose lines are cut off on the right (long code or printed lines), an element whose box
lies outside the 1280x720 viewport, text smaller than 18 px on screen, a console error or page
error, a failed local load, a request off loopback; and a deck without a slide that credits the
source lecture ("Isachenko") or without a slide titled "References".
Measured on the course's 2-core machine: about 28 s for the four decks (the per-deck calls), 40 s for
the whole file with the build and the speaker-view and negative-control checks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from lab_harness import REPO, is_off_loopback

FRAME = {"width": 1280, "height": 720}
MIN_TEXT_PX = 18
ARTIFACTS = Path(os.environ["DGM_ARTIFACTS"]) / "decks" if os.environ.get("DGM_ARTIFACTS") else REPO / "test-artifacts" / "decks"
LECTURES = sorted((REPO / "lectures").glob("[0-9][0-9]_*.ipynb"))


def _load_builder():
    """lectures/_slides/build.py as a module (by path: `build` is also setuptools' folder name)."""
    spec = importlib.util.spec_from_file_location("lecture_slides_build", REPO / "lectures" / "_slides" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_builder()


# --------------------------------------------------------------------------- what the page measures

WAIT_READY = """async () => {
    Reveal.configure({transition: 'none', backgroundTransition: 'none'});
    await document.fonts.ready;
    await new Promise(done => MathJax.Hub.Queue(done));
    return Reveal.getSlides().map(s => { const i = Reveal.getIndices(s); return [i.h, i.v || 0]; });
}"""

# Shows slide (h, v) with all its fragments, waits for MathJax and two frames, then measures it.
MEASURE = """async ([h, v, minPx]) => {
    Reveal.slide(h, v);
    while (Reveal.nextFragment()) {}
    await new Promise(done => MathJax.Hub.Queue(done));
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
    const slide = Reveal.getCurrentSlide(), scale = Reveal.getScale();
    const W = window.innerWidth, H = window.innerHeight;
    const name = el => {
        const text = (el.innerText || el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 50);
        return `<${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/)[0] : ''}> "${text}"`;
    };
    const shown = el => {
        for (let e = el; e && e !== slide; e = e.parentElement) {
            const s = getComputedStyle(e);
            if (s.display === 'none' || s.visibility === 'hidden') return false;
        }
        return !el.closest('aside.notes');
    };
    const problems = [];
    if (slide.scrollHeight > slide.clientHeight + 1)
        problems.push(`content is ${slide.scrollHeight} px tall in a ${slide.clientHeight} px slide (the slide scrolls)`);
    if (slide.scrollWidth > slide.clientWidth + 1)
        problems.push(`content is ${slide.scrollWidth} px wide in a ${slide.clientWidth} px slide`);
    const outside = [], small = new Map();
    for (const el of slide.querySelectorAll('*')) {
        if (!shown(el) || el.closest('.MathJax, .MathJax_Display, .MathJax_SVG') && !el.matches('.MathJax, .MathJax_Display')) continue;
        const style = getComputedStyle(el), box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;
        if (['auto', 'scroll', 'hidden'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1)
            problems.push(`${name(el)}: ${el.scrollWidth - el.clientWidth} px of its lines cut off on the right`);
        if (box.left < -0.5 || box.top < -0.5 || box.right > W + 0.5 || box.bottom > H + 0.5)
            outside.push(`${name(el)} at (${Math.round(box.left)}, ${Math.round(box.top)})-(${Math.round(box.right)}, ${Math.round(box.bottom)})`);
        const hasText = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        const px = parseFloat(style.fontSize) * scale;
        if (hasText && !el.closest('.MathJax, .MathJax_Display') && px < minPx - 0.05) small.set(name(el), px);
    }
    if (outside.length)
        problems.push(`${outside.length} element(s) outside the ${W}x${H} viewport: ${outside.slice(0, 3).join('; ')}`);
    for (const [what, px] of [...small].slice(0, 3)) problems.push(`text at ${px.toFixed(1)} px (< ${minPx}): ${what}`);
    const figures = [...slide.querySelectorAll('img')].filter(shown).map(img => {
        const box = img.getBoundingClientRect();
        const k = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
        return {natural: [img.naturalWidth, img.naturalHeight], shown_scale: +k.toFixed(3), decoded: img.complete && img.naturalWidth > 0};
    });
    const heading = slide.querySelector('h1, h2, h3');
    return {h, v, title: heading ? heading.innerText.replace('¶', '').trim() : '', text: slide.innerText,
            problems, figures};
}"""


def _figure_text_px(scale: float) -> float:
    """On-screen size of the smallest text of a figure shown at `scale`, assuming use_lecture_style()."""
    from dgm_utils.plotting import LECTURE_RC

    sizes = [v for k, v in LECTURE_RC.items() if k.endswith("size") and isinstance(v, (int, float))]
    return min(sizes) * LECTURE_RC.get("figure.dpi", 100) / 72 * scale


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> Path:
    """The four decks, built by the function `make slides` runs, into a temporary folder."""
    if not LECTURES:
        pytest.skip("no lecture notebook in lectures/ yet")
    out = tmp_path_factory.mktemp("decks")
    assert build.main(["--out", str(out)]) == 0, "the build found a deck that loads from the network (see stderr)"
    return out


@pytest.fixture
def deck_page(browser):
    """A fresh 1280x720 page that records console errors, failed loads and requests, refusing off-loopback ones."""
    context = browser.new_context(viewport=FRAME, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    log = {"requests": [], "console": [], "failed": []}
    context.on("request", lambda req: log["requests"].append(req.url))
    context.route(is_off_loopback, lambda route: route.abort("internetdisconnected"))
    page.on("console", lambda msg: msg.type == "error" and log["console"].append(msg.text))
    page.on("pageerror", lambda exc: log["console"].append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: not is_off_loopback(req.url) and log["failed"].append(req.url))
    try:
        yield page, log
    finally:
        context.close()


def step_through(page, log: dict, deck: Path, folder: Path) -> tuple[list[dict], list[str]]:
    """Show every slide of `deck`, screenshot each into `folder`; return (slides, deck-wide problems)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    page.goto(deck.as_uri(), wait_until="load")
    page.wait_for_function("() => window.Reveal && Reveal.isReady && Reveal.isReady() && window.MathJax && MathJax.Hub")
    indices = page.evaluate(WAIT_READY)
    slides = []
    for n, (h, v) in enumerate(indices, start=1):
        slide = page.evaluate(MEASURE, [h, v, MIN_TEXT_PX])
        slide["n"] = n
        slide["png"] = f"{n:02d}-h{h}v{v}.png"
        page.screenshot(path=str(folder / slide["png"]), animations="disabled")
        slides.append(slide)
    problems = [f"console: {m}" for m in log["console"]]
    problems += [f"failed to load {u}" for u in log["failed"]]
    problems += [f"request off loopback (refused): {u}" for u in sorted({u for u in log["requests"] if is_off_loopback(u)})]
    return slides, problems


def write_report(folder: Path, deck: Path, slides: list[dict], problems: list[str]) -> None:
    lines = [f"{deck.name}: {len(slides)} slides at {FRAME['width']}x{FRAME['height']}"]
    for s in slides:
        lines.append(f"slide {s['n']} (h={s['h']}, v={s['v']}) {s['title']!r}  {s['png']}")
        lines += [f"    PROBLEM {p}" for p in s["problems"]]
        for fig in s["figures"]:
            lines.append(f"    figure {fig['natural'][0]}x{fig['natural'][1]} px shown at x{fig['shown_scale']}: "
                         f"its smallest text ~{_figure_text_px(fig['shown_scale']):.0f} px on screen with use_lecture_style()")
    lines += [f"PROBLEM {p}" for p in problems]
    (folder / "report.txt").write_text("\n".join(lines) + "\n")
    (folder / "slides.json").write_text(json.dumps(slides, indent=1))


# --------------------------------------------------------------------------- tests


def test_make_slides_runs_the_function_these_tests_build_with():
    """Does `make slides` run build.py's main() with only --out, the call the deck tests make?"""
    recipe = (REPO / "mk" / "slides.mk").read_text()
    calls = re.findall(r"^\t.*$", recipe, flags=re.M)
    assert calls == ["\t$(BIN)/python lectures/_slides/build.py --out $(SLIDES_DIR)"], calls
    source = (REPO / "lectures" / "_slides" / "build.py").read_text()
    assert source.rstrip().endswith('if __name__ == "__main__":\n    sys.exit(main())')


@pytest.mark.browser
@pytest.mark.timeout(180)
@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem[:2])
def test_every_slide_fits_the_frame_offline(decks, deck_page, lecture: Path):
    """Does every slide of the deck fit 1280x720 with readable text, load nothing off the machine,
    log no console error, credit the source lecture and end with references?"""
    page, log = deck_page
    deck = decks / f"{lecture.stem}.slides.html"
    folder = ARTIFACTS / lecture.stem
    slides, problems = step_through(page, log, deck, folder)
    write_report(folder, deck, slides, problems)

    failures = [f"slide {s['n']} (h={s['h']}, v={s['v']}) {s['title']!r}: {p}" for s in slides for p in s["problems"]]
    failures += [f"slide {s['n']}: a figure did not decode" for s in slides for f in s["figures"] if not f["decoded"]]
    failures += problems
    if not any("Isachenko" in s["text"] for s in slides):
        failures.append("no slide credits the source lecture (expected 'Isachenko' on the title slide)")
    if not any(s["title"].strip().lower() == "references" for s in slides):
        failures.append("no slide titled 'References'")
    assert not failures, (f"{deck.name}: {len(failures)} problem(s) in {len(slides)} slides "
                          f"(screenshots and report.txt in {folder}):\n  " + "\n  ".join(failures))


def _synthetic_lecture(path: Path) -> Path:
    """A small lecture: title, a code wall with a figure and a stale repr, a notes cell, a shown cell."""
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# A synthetic lecture\n\nafter Isachenko's lecture", metadata={"slideshow": {"slide_type": "slide"}}),
        v4.new_markdown_cell("Say this first: SPEAKER-NOTE-TEXT.", metadata={"slideshow": {"slide_type": "notes"}}),
        v4.new_code_cell("import secret_setup", metadata={"slideshow": {"slide_type": "skip"}}),
        v4.new_markdown_cell("## A figure", metadata={"slideshow": {"slide_type": "slide"}}),
        v4.new_code_cell("HIDDEN_CODE = plot()", metadata={"slideshow": {"slide_type": "-"}}, outputs=[
            v4.new_output("stream", name="stdout", text="kept line\n"),
            v4.new_output("stream", name="stderr", text="epochs:   0%|          | 0/2\n"),
            v4.new_output("execute_result", data={"text/plain": "<matplotlib.legend.Legend at 0x7f00deadbeef>"}, execution_count=1),
            v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure size 640x480 with 1 Axes>"}),
        ], execution_count=1),
        v4.new_markdown_cell("After the figure.", metadata={"slideshow": {"slide_type": "fragment"}}),
        v4.new_code_cell("SHOWN_CODE = 1 + 1", metadata={"slideshow": {"slide_type": "subslide"}, "tags": ["show-code"]},
                         outputs=[v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=2)],
                         execution_count=2),
        v4.new_code_cell("def helper(): pass", metadata={"slideshow": {"slide_type": "slide"}}, execution_count=3),
        v4.new_markdown_cell("## References\n\n- a paper", metadata={"slideshow": {"slide_type": "-"}}),
    ]
    nbformat.write(v4.new_notebook(cells=cells), path)
    return path


def test_the_build_shapes_a_lecture_hall_deck(tmp_path):
    """Does the build hide code unless tagged show-code, give the figure a slide of its own, drop
    stderr and object reprs, keep notes as speaker notes, and move an empty cell's slide start on?"""
    notebook = _synthetic_lecture(tmp_path / "99_synthetic.ipynb")
    assert build.main(["--out", str(tmp_path / "out"), str(notebook)]) == 0
    html = (tmp_path / "out" / "99_synthetic.slides.html").read_text()
    assert "HIDDEN_CODE" not in html and "import secret_setup" not in html and "helper" not in html
    assert "SHOWN_CODE" in html and "kept line" in html
    assert "0x7f00deadbeef" not in html and "epochs:" not in html and "Figure size" not in html
    assert '<aside class="notes">' in html and "SPEAKER-NOTE-TEXT" in html
    assert html.count('data-dgm-figure="1"') == 1
    body = html[html.index('<div class="slides">'):]
    # title | "A figure" + kept line | the figure | "After the figure" | shown code | references
    assert body.count("<section") == 2 * 3 + 3, body.count("<section")
    figure = body[body.index('data-dgm-figure="1"'):]
    figure = figure[:figure.index("</section>")]
    assert "data:image/png" in figure and "kept line" not in figure and "After the figure" not in figure
    assert "text-transform: none" in html and "width: 1280" in html and "height: 720" in html


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_speaker_view_shows_the_notes_offline(deck_page, tmp_path):
    """Does pressing S open reveal.js's speaker view, with the slide's notes, and nothing off loopback?"""
    page, log = deck_page
    notebook = _synthetic_lecture(tmp_path / "99_synthetic.ipynb")
    assert build.main(["--out", str(tmp_path / "out"), str(notebook)]) == 0
    page.goto((tmp_path / "out" / "99_synthetic.slides.html").as_uri(), wait_until="load")
    page.wait_for_function("() => window.Reveal && Reveal.isReady && Reveal.isReady()")
    with page.context.expect_page() as opened:
        page.keyboard.press("s")
    speaker = opened.value
    speaker.wait_for_function(
        "() => (document.querySelector('.speaker-controls-notes') || {}).innerText?.includes('SPEAKER-NOTE-TEXT')",
        timeout=15_000)
    folder = ARTIFACTS / "speaker-view"
    folder.mkdir(parents=True, exist_ok=True)
    speaker.screenshot(path=str(folder / "speaker-view.png"))
    off = sorted({u for u in log["requests"] if is_off_loopback(u)})
    assert not off, f"the speaker view requested {off}"
    assert not log["console"], f"console errors: {log['console']}"


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_the_slide_check_catches_overflow_small_text_and_network(deck_page, tmp_path):
    """Negative control: does the per-slide check report a too-tall slide, a line cut off on the
    right, small text, a console error and a request off loopback, on the slide where each is?"""
    page, log = deck_page
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Fine title", metadata={"slideshow": {"slide_type": "slide"}}),
        v4.new_markdown_cell("## Too tall\n\n" + "\n".join(f"- item {i}" for i in range(40)),
                             metadata={"slideshow": {"slide_type": "slide"}}),
        v4.new_code_cell("x = " + " + ".join(["1"] * 120), metadata={"slideshow": {"slide_type": "slide"}, "tags": ["show-code"]},
                         execution_count=1),
        v4.new_markdown_cell('## Small\n\n<span style="font-size: 12px">tiny print</span>\n\n'
                             '<img src="https://example.org/x.png" onerror="console.error(\'boom\')">',
                             metadata={"slideshow": {"slide_type": "slide"}}),
    ]
    notebook = tmp_path / "98_bad.ipynb"
    nbformat.write(v4.new_notebook(cells=cells), notebook)
    assert build.main(["--out", str(tmp_path / "out"), str(notebook)]) == 1, "the remote <img> must fail the build's own check"
    slides, problems = step_through(page, log, tmp_path / "out" / "98_bad.slides.html", tmp_path / "shots")
    by_slide = {s["n"]: " | ".join(s["problems"]) for s in slides}
    assert by_slide[1] == "", by_slide
    assert "the slide scrolls" in by_slide[2] and "outside the 1280x720 viewport" in by_slide[2], by_slide
    assert "cut off on the right" in by_slide[3], by_slide
    assert "text at 11.5 px" in by_slide[4] and "tiny print" in by_slide[4], by_slide
    assert any("request off loopback (refused): https://example.org/x.png" == p for p in problems), problems
    assert any(p.startswith("console: ") and "boom" in p for p in problems), problems
    assert len(list((tmp_path / "shots").glob("*.png"))) == 4

