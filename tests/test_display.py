import base64
import html.parser
import io

import numpy as np
import pytest
import soundfile

from riffnb import audio, display
from riffnb.errors import InvalidAudioError, RiffnbError

SR = 22050


class AudioTags(html.parser.HTMLParser):
    """Every <audio> element's attributes, and the text of the page."""

    def __init__(self, markup):
        super().__init__()
        self.audio, self.text = [], []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        if tag == "audio":
            self.audio.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def decoded(attributes):
    """The WAV inside an <audio src="data:audio/wav;base64,..."> decoded with soundfile: (samples (n, ch), rate)."""
    prefix = "data:audio/wav;base64,"
    assert attributes["src"].startswith(prefix)
    return soundfile.read(io.BytesIO(base64.b64decode(attributes["src"][len(prefix):])), always_2d=True)


def tone(seconds=1.25, level=0.25, sample_rate=SR):
    return level * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sample_rate)) / sample_rate)


def test_player_is_a_playable_audio_element_without_autoplay_or_loop():
    x = tone()
    player = display.play(x, SR, label="A4 sine")
    tags = AudioTags(player._repr_html_())
    assert len(tags.audio) == 1
    attributes = tags.audio[0]
    assert "controls" in attributes and "autoplay" not in attributes and "loop" not in attributes
    samples, rate = decoded(attributes)
    assert rate == SR and samples.shape == (x.size, 1)
    assert np.abs(samples[:, 0] - x).max() <= 1 / 32768 + 1e-12, "16-bit PCM of the very samples"
    text = " ".join(tags.text)
    assert "A4 sine" in text and "1.25 s" in text and "22.05 kHz mono" in text
    assert repr(player) == "Player('A4 sine', 1.25 s, 22050 Hz, mono)"


def test_stereo_stays_stereo():
    x = np.stack([tone(0.5), -tone(0.5, 0.5)])
    samples, rate = decoded(AudioTags(display.play(x, SR)._repr_html_()).audio[0])
    assert samples.shape == (x.shape[1], 2)
    assert np.allclose(samples.T, x, atol=1 / 32768)
    assert "stereo" in display.play(x, SR).caption()


def test_levels_are_honest_unless_asked():
    quiet = display.play(tone(level=0.25), SR)
    assert quiet.note == "" and np.abs(decoded(AudioTags(quiet._repr_html_()).audio[0])[0]).max() == pytest.approx(
        0.25, abs=1e-4)
    loud = display.play(tone(level=2.0), SR, label="hot")
    assert loud.note == "scaled down by 6.0 dB to avoid clipping"
    assert np.abs(loud.samples).max() == pytest.approx(1.0)
    assert "scaled down by 6.0 dB" in " ".join(AudioTags(loud._repr_html_()).text)
    normalised = display.play(tone(level=0.25), SR, normalize=True)
    assert normalised.note == "normalised: raised by 12.0 dB" and np.abs(normalised.samples).max() == pytest.approx(1)
    assert display.play(np.zeros(100), SR).note == "silent"


def test_label_is_escaped():
    markup = display.play(tone(0.1), SR, label="<script>alert(1)</script> & co")._repr_html_()
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "&amp; co" in markup


def test_ipython_displays_players_as_html():
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(display.play(tone(0.2), SR, "x"))
    assert "<audio controls" in data["text/html"] and data["text/plain"].startswith("Player('x'")
    data, _ = DisplayFormatter().format(display.play_all([(tone(0.2), SR), (tone(0.2), SR)]))
    assert data["text/html"].count("<audio controls") == 2


def test_play_all_keeps_relative_levels():
    x = tone(0.5, 1.0)
    row = display.play_all([(1.5 * x, SR, "loud"), (0.5 * x, SR, "quiet"), (x, SR)])
    assert len(row) == 3 and [p.label for p in row.players] == ["loud", "quiet", None]
    assert row.note == "all scaled down by 3.5 dB to avoid clipping (relative levels kept)"
    peaks = [np.abs(decoded(a)[0]).max() for a in AudioTags(row._repr_html_()).audio]
    assert peaks == pytest.approx([1.0, 1 / 3, 2 / 3], abs=1e-4)
    assert all(p.note == "" for p in row.players)
    by_name = display.play_all({"a": (0.5 * x, SR), "b": (0.2 * x, 16000)})
    assert [(p.label, p.sample_rate) for p in by_name] == [("a", SR), ("b", 16000)] and by_name.note == ""
    assert [round(float(np.abs(p.samples).max()), 3) for p in by_name] == [0.5, 0.2]
    normalised = display.play_all([(0.5 * x, SR), (0.2 * x, SR)], normalize=True)
    assert [float(np.abs(p.samples).max()) for p in normalised] == pytest.approx([1, 1])
    tags = AudioTags(row._repr_html_()).audio
    assert len(tags) == 3 and all("autoplay" not in t and "loop" not in t and "controls" in t for t in tags)


def test_mistakes_are_explained():
    with pytest.raises(RiffnbError, match="sample_rate"):
        display.play(tone(0.1), 0)
    with pytest.raises(RiffnbError, match="sample_rate"):
        display.play(tone(0.1), 22050.5)
    with pytest.raises(InvalidAudioError, match="NaN"):
        display.play(np.array([0.0, np.nan]), SR)
    with pytest.raises(RiffnbError, match=r"\(samples, sample_rate\)"):
        display.play_all([tone(0.1)])
    with pytest.raises(RiffnbError, match="at least one"):
        display.play_all([])


def test_large_players_warn_with_the_size():
    minutes = np.zeros(int(90 * 44100))
    with pytest.warns(UserWarning, match=r"embeds 11 MB .*resample"):
        display.play(minutes, 44100, "long")
    size = len(audio.wav_bytes(np.zeros(44100), 44100))
    assert size == 44100 * 2 + 44, "16-bit PCM mono: 88.2 kB per second plus the header"


def test_players_fit_in_widget_layouts():
    ipywidgets = pytest.importorskip("ipywidgets")
    widget = display.play(tone(0.1), SR, "w").widget()
    assert isinstance(widget, ipywidgets.HTML) and "<audio controls" in widget.value
    row = display.play_all([(tone(0.1), SR), (tone(0.1), SR)]).widget()
    assert row.value.count("<audio controls") == 2


def test_players_play_in_jupyterlab(tmp_path):
    """In JupyterLab in Chromium: every player loads its audio, with controls, paused, no autoplay or loop."""
    support = pytest.importorskip("browser_support", reason="tests/browser_support.py (JupyterLab + Chromium) is missing")
    support.require_browser()
    LabPage, jupyter_lab, launch_chromium = support.LabPage, support.jupyter_lab, support.launch_chromium
    write_notebook = support.write_notebook
    cells = [
        "import numpy as np\nfrom riffnb.display import play, play_all\n"
        "x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(33075) / 22050)",
        "play(x, 22050, label='one')",
        "display(play(x, 22050, label='first'))\ndisplay(play(4 * x, 22050, label='second'))",
        "play_all([(x, 22050, 'a'), (x[:11025], 22050, 'b'), (np.stack([x, x]), 44100, 'c')])",
    ]
    write_notebook(tmp_path / "root" / "players.ipynb", cells)
    with jupyter_lab(tmp_path / "root", tmp_path / "home", log=tmp_path / "lab.log") as server, \
            launch_chromium() as browser:
        lab = LabPage(browser.new_page(), server, tmp_path / "shots")
        lab.open("players.ipynb")
        lab.run_all()
        expected = {1: [1.5], 2: [1.5, 1.5], 3: [1.5, 0.5, 0.75]}
        for cell, durations in expected.items():
            audio = lab.cell_output(cell).locator("audio")
            assert audio.count() == len(durations), f"cell {cell}"
            for index, duration in enumerate(durations):
                state = lab.audio_state(audio.nth(index).locator(".."))
                assert state["duration"] == pytest.approx(duration, abs=0.01)
                assert state["controls"] and state["paused"] and state["error"] is None
                assert not state["autoplay"] and not state["loop"]
        assert "second" in lab.cell_output(2).inner_text() and "scaled down by 1.6 dB" in lab.cell_output(2).inner_text()
        assert lab.errors_shown() == []
