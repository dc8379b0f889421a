"""The widgets in a real browser: JupyterLab started by the test, driven by Playwright in Debian's headless Chromium.

What a user does: open a notebook, Run > Run All Cells, press the panel's button, look and listen. The tests check
that the widgets render (no "Error displaying widget"), that pressing Generate shows the spectrogram image and a
playable audio element (the browser decodes its WAV: readyState and duration), and that the phase explorer runs
and scrubs. Screenshots go to ``artifacts/browser/`` (gitignored).

Without Chromium these tests skip, except in CI (``CI=true``) where that is a failure; see ``browser_support``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from browser_support import ARTIFACTS, LabPage, chromium, lab, write_notebook  # noqa: F401 - fixtures

SHOTS = ARTIFACTS / "browser"

#: The notebook the generate test drives: the course's quickstart, with riffnb's shipped "tiny" model, as a learner
#: opens it.
GENERATE_NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "00_quickstart.ipynb"


PHASE_CELLS = [
    "from riffnb.synth import render_demo_clip\n"
    "from riffnb.widgets import PhaseExplorer\n"
    "explorer = PhaseExplorer(render_demo_clip(2.0), 44100, n_iter=8)\n"
    "explorer",
]


@pytest.fixture
def page(chromium, lab, request):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    lab_page = LabPage(page, lab, SHOTS)
    yield lab_page
    # The last state of every test, passed or failed: the first thing to look at when one fails.
    lab_page.screenshot(f"{request.node.name}-end")
    context.close()
    lab.shutdown_kernels()


def open_and_run(page: LabPage, name: str) -> None:
    page.open(name)
    page.run_all(timeout=180)
    assert not page.errors_shown(), page.errors_shown()


def widget_button(page: LabPage, label: str):
    return page.notebook().locator(".jp-OutputArea-output button.jupyter-button", has_text=label).first


def output_with(page: LabPage, label: str):
    """The cell output holding the widget button labelled ``label``."""
    return page.notebook().locator(".jp-OutputArea-output").filter(
        has=page.page.locator("button.jupyter-button", has_text=label)).first


def test_generate_panel_in_jupyterlab(page, lab):
    started = time.monotonic()
    shutil.copy(GENERATE_NOTEBOOK, lab.root / GENERATE_NOTEBOOK.name)
    open_and_run(page, GENERATE_NOTEBOOK.name)
    # The clip the notebook made shows its spectrogram and a player.
    first_clip = page.notebook().locator(".jp-OutputArea-output figure").filter(
        has=page.page.locator("img[alt^='spectrogram of']")).first
    assert page.image_size(first_clip)["naturalWidth"] > 0
    assert page.audio_state(first_clip)["duration"] > 0.5
    first_clip.scroll_into_view_if_needed()
    page.screenshot("quickstart-clip")
    button = widget_button(page, "Generate")
    button.wait_for(state="visible", timeout=60_000)
    panel = output_with(page, "Generate")
    page.screenshot("generate-before")

    button.click()
    result = panel.locator(".riffnb-clip")
    result.wait_for(state="visible", timeout=120_000)
    image = page.image_size(result)
    assert image["naturalWidth"] > 0 and image["naturalHeight"] > 0
    audio = page.audio_state(result)
    assert audio["controls"] and audio["error"] is None
    assert audio["readyState"] >= 1 and 0.5 < audio["duration"] < 20
    assert not audio["autoplay"] and not audio["loop"] and audio["paused"]
    links = result.locator("a[download]")
    assert sorted(links.evaluate_all("els => els.map(a => a.download.split('.').pop())")) == ["json", "png", "wav"]
    page.page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=30_000)
    assert not panel.locator(".riffnb-error").count()
    result.scroll_into_view_if_needed()
    page.screenshot("generate-after")
    assert not page.errors_shown(), page.errors_shown()
    print(f"generate panel in the browser: {time.monotonic() - started:.1f} s")


def test_phase_explorer_in_jupyterlab(page, lab):
    started = time.monotonic()
    write_notebook(lab.root / "phase.ipynb", PHASE_CELLS)
    open_and_run(page, "phase.ipynb")
    button = widget_button(page, "Run")
    button.wait_for(state="visible", timeout=60_000)
    panel = output_with(page, "Run")

    button.click()
    slider = panel.locator(".widget-slider", has_text="show iteration").first
    # The iteration slider comes alive when every iteration has been computed.
    page.page.wait_for_function("el => !el.classList.contains('mod-disabled') && !el.querySelector('.mod-disabled, "
                                "[disabled]')", arg=slider.element_handle(), timeout=120_000)
    players = panel.locator(".riffnb-player")
    players.nth(1).wait_for(state="visible", timeout=60_000)
    assert "iteration 8" in players.nth(1).inner_text()
    assert page.audio_state(players.nth(1))["duration"] > 1.5

    # Scrub: type an iteration into the slider's readout, as a user can.
    readout = slider.locator(".widget-readout")
    readout.click()
    page.page.keyboard.press("Control+A")
    page.page.keyboard.type("2")
    page.page.keyboard.press("Enter")
    page.page.wait_for_function(
        "el => /iteration 2 \\(/.test(el.innerText)", arg=panel.element_handle(), timeout=60_000
    )
    audio = page.audio_state(players.nth(1))
    assert audio["readyState"] >= 1 and audio["duration"] > 1.5 and not audio["autoplay"]
    assert panel.locator("img").count() >= 2
    assert not panel.locator(".riffnb-error").count()
    panel.scroll_into_view_if_needed()
    page.screenshot("phase-explorer")
    assert not page.errors_shown(), page.errors_shown()
    print(f"phase explorer in the browser: {time.monotonic() - started:.1f} s")


def endless_cells(pipeline_dir: Path) -> list[str]:
    return [
        "import riffnb\n"
        "from riffnb.widgets import EndlessPlayer\n"
        f"pipe = riffnb.load_pipeline({str(pipeline_dir)!r}, device='cpu')\n"
        "player = EndlessPlayer(pipe, prompt='lofi beat', steps=2, width=64, ahead=1, max_clips=8)\n"
        "player",
    ]


def test_endless_player_chains_clips_in_jupyterlab(page, lab, tiny_pipeline_dir):
    started = time.monotonic()
    write_notebook(lab.root / "endless.ipynb", endless_cells(tiny_pipeline_dir))
    open_and_run(page, "endless.ipynb")
    start = widget_button(page, "Start")
    start.wait_for(state="visible", timeout=60_000)
    panel = output_with(page, "Start")

    start.click()
    clips = panel.locator(".riffnb-endless-clip audio")
    clips.nth(1).wait_for(state="attached", timeout=90_000)
    # Pressing Start asked for music: the first clip plays by itself, and each next one when the previous ends.
    page.page.wait_for_function(
        "els => els.length > 1 && els[0].dataset.riffnbStarted === '1' && els[1].dataset.riffnbStarted === '1' "
        "&& (els[0].ended || !els[0].paused)",
        arg=clips.element_handles(), timeout=60_000,
    )
    states = clips.evaluate_all("els => els.map(a => ({autoplay: a.autoplay, loop: a.loop, controls: a.controls}))")
    assert states[0]["autoplay"] and not any(s["autoplay"] for s in states[1:])
    assert all(s["controls"] and not s["loop"] for s in states)
    page.screenshot("endless-playing")

    widget_button(page, "Stop").click()
    panel.locator("a[download]").wait_for(state="visible", timeout=90_000)
    assert "endless_lofi_beat.wav" in panel.locator("a[download]").first.get_attribute("download")
    page.page.wait_for_function("b => !b.disabled", arg=start.element_handle(), timeout=30_000)
    assert not panel.locator(".riffnb-error").count()
    page.screenshot("endless-stopped")
    assert not page.errors_shown(), page.errors_shown()
    print(f"endless player in the browser: {time.monotonic() - started:.1f} s")
