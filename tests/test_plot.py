import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from riffnb import plot  # noqa: E402
from riffnb.errors import RiffnbError  # noqa: E402
from riffnb.image import image_from_spectrogram  # noqa: E402
from riffnb.mel import mel_filterbank, mel_frequencies, mel_from_linear  # noqa: E402
from riffnb.params import SpectrogramParams  # noqa: E402
from riffnb.stft import stft  # noqa: E402

P = SpectrogramParams()


@pytest.fixture(scope="module")
def tone_spectra():
    """Linear and mel magnitudes of a 1 kHz tone, 1 s at Riffusion's parameters."""
    t = np.arange(44100) / 44100
    linear = np.abs(stft(0.5 * np.sin(2 * np.pi * 1000 * t), P.n_fft, P.hop_length, P.win_length))
    mel = mel_from_linear(linear, mel_filterbank(44100, P.n_fft, 512, 0, 10000))
    return linear[None], mel[None]


def tick_labels(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def image_row_coordinate(artist, row):
    """The y coordinate of the centre of image row ``row`` in data units."""
    left, right, bottom, top = artist.get_extent()
    rows = artist.get_array().shape[0]
    step = (top - bottom) / rows
    return bottom + (row + 0.5) * step if artist.origin == "lower" else top - (row + 0.5) * step


def test_mel_spectrogram_axes_are_seconds_and_hz_at_mel_positions(tone_spectra):
    _, mel = tone_spectra
    fig = plot.plot_spectrogram(mel, title="tone")
    ax, bar = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("time (s)", "frequency (Hz, mel scale)", "tone")
    assert ax.get_xlim() == pytest.approx((0, mel.shape[-1] * 0.01))
    assert bar.get_ylabel() == "level (dB re max)"
    labels = tick_labels(ax)
    assert {"100", "1k", "5k"} <= set(labels)
    centres = mel_frequencies(512, 0, 10000)
    positions = dict(zip(labels, ax.get_yticks()))
    for label, hz in (("100", 100), ("1k", 1000), ("5k", 5000)):
        assert centres[int(round(positions[label]))] == pytest.approx(hz, rel=0.02)
    # The tone lights the band at the "1k" tick.
    artist = ax.images[0]
    loudest_row = np.unravel_index(np.argmax(artist.get_array()), artist.get_array().shape)[0]
    assert image_row_coordinate(artist, loudest_row) == pytest.approx(positions["1k"], abs=2)
    assert artist.get_array().max() == 0 and artist.get_clim() == (-80, 0)
    # Crowded low-frequency labels are thinned out.
    assert np.diff(ax.get_yticks()).min() >= 0.06 * 512


def test_semitone_spectrogram_puts_a_tone_on_its_note():
    params = SpectrogramParams(sample_rate=22050, step_size_ms=20, padded_duration_ms=200, num_frequencies=96,
                               min_frequency=39, max_frequency=10548, mel_scale_type="semitone")
    t = np.arange(22050) / 22050
    linear = np.abs(stft(np.sin(2 * np.pi * 1000 * t), params.n_fft, params.hop_length, params.win_length))
    mel = mel_from_linear(linear, mel_filterbank(22050, params.n_fft, 96, 39, 10548, mel_scale="semitone"))
    fig = plot.plot_spectrogram(mel[None], params)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "frequency (Hz, semitone scale)"
    positions = dict(zip(tick_labels(ax), ax.get_yticks()))
    artist = ax.images[0]
    loudest_row = np.unravel_index(np.argmax(artist.get_array()), artist.get_array().shape)[0]
    # 1 kHz lies 14 cents above B5 (MIDI 83), the band 83 - 28 up from E1.
    assert loudest_row == 83 - 28
    assert image_row_coordinate(artist, loudest_row) == pytest.approx(positions["1k"], abs=0.5)


def test_linear_spectrogram_has_a_linear_hz_axis(tone_spectra):
    linear, _ = tone_spectra
    fig = plot.plot_spectrogram(linear, fmax=5000, db=False)
    ax, bar = fig.axes
    assert ax.get_ylabel() == "frequency (Hz)" and bar.get_ylabel() == "magnitude"
    assert ax.get_ylim() == (0, 5000)
    artist = ax.images[0]
    loudest_row = np.unravel_index(np.argmax(artist.get_array()), artist.get_array().shape)[0]
    assert image_row_coordinate(artist, loudest_row) == pytest.approx(1000, abs=44100 / P.n_fft)


def test_spectrogram_scale_must_be_known():
    with pytest.raises(RiffnbError, match="scale='mel'"):
        plot.plot_spectrogram(np.ones((100, 20)))
    fig = plot.plot_spectrogram(np.ones((100, 20)), scale="mel")
    assert fig.axes[0].get_ylabel() == "frequency (Hz, mel scale)"
    with pytest.raises(RiffnbError, match="NaN"):
        plot.plot_spectrogram(np.full((512, 4), np.nan))


def test_image_is_shown_as_the_model_sees_it():
    spectrogram = np.zeros((1, 512, 200))
    spectrogram[0, 10, :] = 1.0  # one loud low band
    image = image_from_spectrogram(spectrogram)
    fig = plot.plot_image(image)
    ax, bar = fig.axes
    assert bar.get_ylabel() == "pixel value (0-255, dark = loud)"
    artist = ax.images[0]
    pixels = artist.get_array()
    assert np.array_equal(pixels, np.asarray(image)[..., 0]) and artist.get_clim() == (0, 255)
    dark_row = int(np.argmin(pixels[:, 0]))
    assert dark_row == 501 and image_row_coordinate(artist, dark_row) == pytest.approx(10)
    assert ax.get_xlim() == pytest.approx((0, 2.0))
    # plot_spectrogram hands images over to plot_image.
    assert plot.plot_spectrogram(image).axes[1].get_ylabel() == "pixel value (0-255, dark = loud)"
    stereo = Image.fromarray(np.dstack([np.zeros((512, 50)), np.full((512, 50), 90), np.full((512, 50), 200)])
                             .astype(np.uint8))
    assert len(plot.plot_image(stereo).axes) == 1, "a stereo image shows its own colours, no grey colour bar"


def test_waveform_axes_and_long_clips():
    sr = 8000
    x = np.sin(np.linspace(0, 200 * np.pi, sr * 3))
    ax = plot.plot_waveform(x * 0.5, sr).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (s)", "amplitude")
    assert ax.get_xlim() == pytest.approx((0, 3)) and ax.get_ylim() == pytest.approx((-1.05, 1.05))
    assert len(ax.collections) == 1 and not ax.lines, "a long clip is drawn as its min/max envelope"
    envelope = ax.collections[0].get_paths()[0].vertices
    assert envelope[:, 1].max() == pytest.approx(0.5, abs=1e-3) and len(envelope) < 10000
    stereo = plot.plot_waveform(np.stack([x, 1.5 * x])[:, :1000], sr).axes[0]
    assert [t.get_text() for t in stereo.get_legend().get_texts()] == ["left", "right"]
    assert [line.get_ydata()[0] for line in stereo.lines[-2:]] == [-1, 1], "full scale marked when exceeded"
    assert stereo.get_ylim()[1] == pytest.approx(1.5 * 1.05, rel=1e-3)


def test_filterbank_triangles_peak_at_band_centres():
    fig = plot.plot_filterbank(every=8)
    ax = fig.axes[0]
    segments = ax.collections[0].get_segments()
    assert len(segments) == 64 and ax.get_xlabel() == "frequency (Hz)" and ax.get_ylabel() == "weight"
    centres = mel_frequencies(512, 0, 10000)[::8]
    peaks = np.array([segment[np.argmax(segment[:, 1]), 0] for segment in segments])
    assert np.abs(peaks - centres).max() <= 44100 / P.n_fft
    assert ax.get_xlim()[1] == pytest.approx(10000 * 1.02, rel=0.01)
    assert "512 mel bands" in ax.get_title()


def test_compare_shares_axes_and_colour_scale():
    rng = np.random.default_rng(0)
    a = np.abs(rng.normal(size=(1, 512, 120))) + 0.1
    fig = plot.compare({"original": a, "half": a / 2}, difference=True)
    left, right, delta = fig.axes[:3]
    assert [ax.get_title() for ax in (left, right, delta)] == ["original", "half", "half - original"]
    assert left.get_shared_x_axes().joined(left, right) and left.get_shared_y_axes().joined(left, delta)
    assert left.images[0].get_clim() == right.images[0].get_clim()
    # One scale for both: the quieter one peaks 6 dB down.
    assert right.images[0].get_array().max() == pytest.approx(-6.02, abs=0.01)
    assert np.allclose(delta.images[0].get_array(), -6.02, atol=0.01)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "level (dB re loudest)" in labels and "difference (dB)" in labels


def test_compare_waveforms_and_images():
    x = np.sin(np.linspace(0, 50, 4000))
    fig = plot.compare([x, 0.5 * x], ["a", "b"], sample_rate=4000)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[1])
    image = image_from_spectrogram(np.ones((1, 512, 30)))
    assert len(plot.compare([image, image]).axes) == 3  # two panels and one colour bar
    with pytest.raises(RiffnbError, match="sample_rate"):
        plot.compare([x, x])
    with pytest.raises(RiffnbError, match="one kind"):
        plot.compare([x, image])
    with pytest.raises(RiffnbError, match="titles"):
        plot.compare([x, x], ["only one"], sample_rate=4000)


def test_convergence_curves():
    fig = plot.plot_convergence({"fgla": [-10.0, -15.0, -18.0, -np.inf], "gla": [-9.0, -11.0, -12.0, -13.0]})
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("iteration", "spectral convergence (dB)")
    fgla, gla = ax.lines
    assert list(fgla.get_xdata()) == [1, 2, 3] and list(gla.get_xdata()) == [1, 2, 3, 4]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fgla", "gla"]
    single = plot.plot_convergence([-3.0, -6.0], title=None).axes[0]
    assert single.get_legend() is None and single.get_title() == ""


def test_given_axes_are_drawn_into_and_returned():
    fig, axes = plt.subplots(1, 2)
    try:
        assert plot.plot_waveform(np.zeros(100), 100, ax=axes[1]) is axes[1]
        assert plot.plot_convergence([-1.0], ax=axes[0]) is axes[0]
        assert axes[1].get_xlabel() == "time (s)" and axes[0].get_xlabel() == "iteration"
    finally:
        plt.close(fig)


def test_figures_made_here_are_left_out_of_pyplot():
    before = plt.get_fignums()
    fig = plot.plot_filterbank(every=32)
    assert plt.get_fignums() == before, "pyplot would show the figure a second time at the end of the cell"
    assert fig.canvas is not None and fig.get_layout_engine() is not None


def test_import_riffnb_plot_does_not_import_matplotlib():
    code = "import sys, riffnb.plot, riffnb.display; print('matplotlib' in sys.modules, 'IPython' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_returned_figure_shows_once_in_a_notebook(tmp_path):
    """In a real kernel (the inline backend of Jupyter, Colab and VS Code): one image per plot, not two."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "import numpy as np\nfrom riffnb import plot",
        "plot.plot_convergence([-10.0, -15.0, -20.0])",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nplot.plot_waveform(np.zeros(100), 100, ax=ax);",
        "fig = plot.plot_filterbank(every=64)\nfig.axes[0].set_title('changed')\ndisplay(fig)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [sum("image/png" in output.get("data", {}) for output in cell.outputs) for cell in notebook.cells]
    assert images == [0, 1, 1, 1], [cell.outputs for cell in notebook.cells]
