"""Explorers for the signal-processing half of the course: the STFT, the mel scale and 8-bit image, phase.

Each is a thin view over riffnb's functions (:mod:`riffnb.stft`, :mod:`riffnb.spectrogram`, :mod:`riffnb.phase`,
:mod:`riffnb.plot`, :mod:`riffnb.display`): sliders choose the arguments, the panel shows and plays the results.
Everything recomputes when a slider is released (``continuous_update=False``), or when Run is pressed.
"""

from __future__ import annotations

import dataclasses
import html
import typing as T

import ipywidgets as W
import numpy as np

from ..errors import RiffnbError
from ..params import SpectrogramParams
from ._panel import DESCRIPTION_STYLE, Panel, action, figure_html, player_html

if T.TYPE_CHECKING:
    from ..phase import PhaseEstimate


def _source_audio(samples: np.ndarray | None, sample_rate: int) -> np.ndarray:
    """Mono samples ``(1, n)``: the given audio mixed down, or riffnb's demo clip (5.12 s of bossa nova)."""
    from ..audio import as_channels, mix_to_channels
    from ..synth import render_demo_clip

    if samples is None:
        return render_demo_clip(sample_rate=sample_rate)
    return mix_to_channels(as_channels(samples), 1)


def _slider(kind: type, description: str, value: T.Any, **options: T.Any) -> W.Widget:
    return kind(value=value, description=description, continuous_update=False, style=DESCRIPTION_STYLE,
                layout=W.Layout(width="420px"), **options)


def _players(*items: tuple[np.ndarray, int, str]) -> str:
    """Players side by side, levels kept relative to each other (:func:`riffnb.display.play_all`)."""
    from ..display import play_all

    return play_all(list(items))._repr_html_()


#: The most memory one update of the STFT explorer may take: Binder gives the whole notebook 2 GB.
STFT_MEMORY_BUDGET = 512 * 2**20

#: Bytes per spectrogram cell (frame x frequency bin) an update of the STFT explorer holds at its peak, as
#: tracemalloc measures it: 48 while it analyses and resynthesises (the complex spectrum, and the inverse's frames
#: of n_fft, about two cells, in float64 before and after windowing), then while it draws 24 (the spectrum and its
#: magnitude) plus 72 for each cell below max_frequency (the levels in dB and matplotlib's copies of what it shows).
_ANALYSIS_BYTES, _DRAWING_BYTES, _SHOWN_BYTES = 48, 24, 72


def stft_memory(length: int, params: SpectrogramParams) -> int:
    """Bytes the STFT explorer needs to analyse, resynthesise and draw ``length`` samples with ``params``' sizes."""
    from ..stft import num_frames

    shown = min(params.max_frequency / (params.sample_rate / 2), 1.0)
    cells = num_frames(length, params.hop_length, params.n_fft) * (params.n_fft // 2 + 1)
    return int(cells * max(_ANALYSIS_BYTES, _DRAWING_BYTES + _SHOWN_BYTES * shown))


def _table(rows: T.Sequence[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td style='padding-right: 1em'>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table style='font-size: 0.9em'>{cells}</table>"


# ----------------------------------------------------------------------------------------------------------------


class STFTExplorer(Panel):
    """The short-time Fourier transform: window type and length, hop and FFT size, on a spectrogram and by ear.

    A long window resolves close frequencies but smears notes in time; a short one does the opposite. The hop sets
    how often a frame is taken, and ``n_fft`` (the window zero-padded) only samples the spectrum more finely. The
    inverse STFT brings the exact audio back whenever the windows overlap enough: listen to it.

    Sizes are in milliseconds, as Riffusion's :class:`~riffnb.params.SpectrogramParams` give them (100 ms window,
    10 ms hop, 400 ms FFT). A spectrogram that would take more than :data:`STFT_MEMORY_BUDGET` (a very short hop
    with a very long FFT) is not computed: the panel says which hop or FFT size fits.

    Examples
    --------
    >>> explorer = STFTExplorer()                 # doctest: +SKIP
    >>> explorer.window_ms.value = 20             # doctest: +SKIP
    """

    title = "STFT explorer"
    help = "longer windows sharpen frequency and blur time; listen to the inverse STFT"

    #: (label, scipy window name) choices.
    WINDOWS = (("Hann", "hann"), ("Hamming", "hamming"), ("Blackman", "blackman"), ("rectangular", "boxcar"),
               ("triangular", "triang"))

    def __init__(
        self,
        samples: np.ndarray | None = None,
        sample_rate: int = 44100,
        *,
        window: str = "hann",
        window_ms: int = 100,
        hop_ms: int = 10,
        n_fft_ms: int = 400,
        max_frequency: float | None = 10000,
    ) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.samples = _source_audio(samples, self.sample_rate)
        self.max_frequency = max_frequency
        self.window = W.Dropdown(options=self.WINDOWS, value=window, description="window", style=DESCRIPTION_STYLE)
        self.window_ms = _slider(W.IntSlider, "window (ms)", window_ms, min=1, max=400)
        self.hop_ms = _slider(W.IntSlider, "hop (ms)", hop_ms, min=1, max=200)
        self.n_fft_ms = _slider(W.IntSlider, "n_fft (ms)", n_fft_ms, min=1, max=800)
        self.info = W.HTML()
        self.figure = W.HTML()
        self.players = W.HTML()
        #: The last STFT shown, ``(1, n_fft // 2 + 1, frames)`` complex, and the audio its inverse gave.
        self.spectrum: np.ndarray | None = None
        self.inverse: np.ndarray | None = None
        self._control(self.window, self.window_ms, self.hop_ms, self.n_fft_ms)
        for control in (self.window, self.window_ms, self.hop_ms, self.n_fft_ms):
            control.observe(lambda change: self.run(), names="value")
        self._assemble(
            W.HBox([W.VBox([self.window, self.window_ms, self.hop_ms, self.n_fft_ms]), self.info]),
            self.figure,
            self.players,
        )
        self.run()

    def params(self) -> SpectrogramParams:
        """The chosen sizes as SpectrogramParams (which checks hop <= window <= n_fft)."""
        return SpectrogramParams(
            sample_rate=self.sample_rate,
            step_size_ms=self.hop_ms.value,
            window_duration_ms=self.window_ms.value,
            padded_duration_ms=self.n_fft_ms.value,
            max_frequency=min(self.max_frequency or self.sample_rate // 2, self.sample_rate // 2),
        )

    @action("computing the STFT")
    def run(self) -> None:
        """Recompute the STFT and its inverse with the current settings and show them."""
        from ..plot import plot_spectrogram
        from ..stft import istft, stft

        params = self.params()
        self._check_memory(params)
        # The previous spectrum would otherwise stay in memory beside the new one.
        self.spectrum = self.inverse = None
        window = self.window.value
        spectrum = stft(self.samples, params.n_fft, params.hop_length, params.win_length, window=window)
        inverse = istft(spectrum, params.hop_length, params.win_length, params.n_fft, window=window,
                        length=self.samples.shape[-1])
        error = np.linalg.norm(inverse - self.samples) / max(np.linalg.norm(self.samples), 1e-30)
        error_db = 20 * np.log10(max(error, 1e-30))
        sr = self.sample_rate
        self.info.value = _table([
            ("window", f"{params.win_length} samples = {1000 * params.win_length / sr:.1f} ms"),
            ("hop (time step)", f"{params.hop_length} samples = {1000 * params.hop_length / sr:.1f} ms"),
            ("n_fft", f"{params.n_fft} samples: bins every {sr / params.n_fft:.2f} Hz"),
            ("frequency resolution", f"about {sr / params.win_length:.1f} Hz (sample rate / window)"),
            ("spectrogram", f"{spectrum.shape[-2]} bins x {spectrum.shape[-1]} frames"),
            ("inverse STFT error", "exact (below -100 dB)" if error_db < -100 else f"{error_db:.1f} dB"),
        ])
        figure = plot_spectrogram(np.abs(spectrum), params, scale="linear", fmax=params.max_frequency,
                                  title=f"{dict((v, k) for k, v in self.WINDOWS).get(window, window)} window, "
                                        f"{self.window_ms.value} ms, hop {self.hop_ms.value} ms")
        self.figure.value = figure_html(figure)
        self.players.value = _players((self.samples, sr, "original"), (inverse, sr, "inverse STFT"))
        self.spectrum, self.inverse = spectrum, inverse

    def _check_memory(self, params: SpectrogramParams) -> None:
        from ..stft import num_frames

        length = self.samples.shape[-1]
        needed = stft_memory(length, params)
        if needed <= STFT_MEMORY_BUDGET:
            return
        hop, window, n_fft = self.hop_ms.value, self.window_ms.value, self.n_fft_ms.value

        def fits(hop: int, window: int, n_fft: int) -> bool:
            sizes = dataclasses.replace(params, step_size_ms=hop, window_duration_ms=window, padded_duration_ms=n_fft)
            return stft_memory(length, sizes) <= STFT_MEMORY_BUDGET

        fixes = []
        longer = next((ms for ms in range(hop + 1, min(window, self.hop_ms.max) + 1) if fits(ms, window, n_fft)), None)
        if longer is not None:
            fixes.append(f"a hop of at least {longer} ms")
        shorter = next((ms for ms in range(n_fft - 1, hop - 1, -1) if fits(hop, min(window, ms), ms)), None)
        if shorter is not None:
            fixes.append(f"an n_fft of at most {shorter} ms" if shorter >= window
                         else f"a window and n_fft of at most {shorter} ms")
        frames, bins = num_frames(length, params.hop_length, params.n_fft), params.n_fft // 2 + 1
        raise RiffnbError(
            f"hop {hop} ms and n_fft {n_fft} ms make {frames} frames x {bins} bins, "
            f"about {needed / 2**20:,.0f} MB to compute, more than this explorer's {STFT_MEMORY_BUDGET // 2**20} MB "
            f"(Binder has 2 GB in all): use {' or '.join(fixes) or 'shorter audio'}"
        )


# ----------------------------------------------------------------------------------------------------------------


class MelExplorer(Panel):
    """The mel scale and Riffusion's 8-bit image: filterbank, number of bands, the power curve, quantisation.

    The filterbank pools STFT bins into bands spaced evenly in mels (narrow at low frequencies, wide at high);
    the image raises the normalised magnitudes to ``power_for_image`` (0.25 lifts quiet detail) and truncates to
    256 grey levels. Listen to what survives: the audio rebuilt from the image.

    Choosing the semitone scale also sets the range and the number of bands for one note per band (see
    :func:`semitone_bands`); the info table shows the band spacing in semitones whatever they are changed to.

    Examples
    --------
    >>> explorer = MelExplorer()                  # doctest: +SKIP
    >>> explorer.num_frequencies.value = 64       # doctest: +SKIP
    """

    title = "Mel explorer"
    help = "bands, frequency range and the power curve of Riffusion's 8-bit image; hear the image"

    def __init__(
        self,
        samples: np.ndarray | None = None,
        sample_rate: int | None = None,
        *,
        params: SpectrogramParams | None = None,
        **phase_options: T.Any,
    ) -> None:
        super().__init__()
        self.base_params = params or SpectrogramParams()
        self.sample_rate = int(sample_rate or self.base_params.sample_rate)
        self.samples = _source_audio(samples, self.sample_rate)
        self.phase_options = phase_options
        p = self.base_params
        nyquist = p.sample_rate // 2
        # Steps of 1: one band per note needs any count of bands, and a note's frequency (39 Hz) as an end.
        self.num_frequencies = _slider(W.IntSlider, "mel bands", p.num_frequencies, min=8, max=1024)
        self.frequency_range = _slider(W.IntRangeSlider, "range (Hz)", (p.min_frequency, p.max_frequency), min=0,
                                       max=nyquist)
        self.mel_scale = W.Dropdown(options=(("HTK (Riffusion)", "htk"), ("Slaney", "slaney"),
                                             ("semitones (one note per band)", "semitone")),
                                    value=p.mel_scale_type, description="mel scale", style=DESCRIPTION_STYLE)
        # Dropdowns show a None value as no selection: "none" stands for mel_scale_norm=None.
        self.norm = W.Dropdown(options=(("none (Riffusion)", "none"), ("Slaney (equal area)", "slaney")),
                               value=p.mel_scale_norm or "none", description="band norm", style=DESCRIPTION_STYLE)
        self.power = _slider(W.FloatSlider, "power", p.power_for_image, min=0.05, max=1.0, step=0.05)
        self.info = W.HTML()
        self.filterbank_figure = W.HTML()
        self.curve_figure = W.HTML()
        self.image_figure = W.HTML()
        self.players = W.HTML()
        #: The last image made and the audio rebuilt from it.
        self.image = None
        self.reconstruction: np.ndarray | None = None
        controls = (self.num_frequencies, self.frequency_range, self.mel_scale, self.norm, self.power)
        self._control(*controls)
        self._fitting = False
        for control in controls:
            control.observe(self._on_control, names="value")
        self._assemble(
            W.HBox([W.VBox(list(controls)), self.info]),
            W.HBox([self.filterbank_figure, self.curve_figure]),
            self.image_figure,
            self.players,
        )
        self.run()

    def _on_control(self, change: dict) -> None:
        # Fitting the semitone scale moves two more controls: one update for all three, after the last.
        if self._fitting:
            return
        if change["owner"] is self.mel_scale and change["new"] == "semitone":
            self._fitting = True
            try:
                self._fit_semitones()
            finally:
                self._fitting = False
        self.run()

    def _fit_semitones(self) -> None:
        """Set the range and the number of bands for one equal-tempered note per band (:func:`semitone_bands`)."""
        low, high, bands = semitone_bands(*self.frequency_range.value, self.frequency_range.max)
        self.frequency_range.value = (low, high)
        self.num_frequencies.value = max(bands, self.num_frequencies.min)

    def params(self) -> SpectrogramParams:
        low, high = self.frequency_range.value
        return dataclasses.replace(
            self.base_params,
            num_frequencies=self.num_frequencies.value,
            min_frequency=low,
            max_frequency=high,
            mel_scale_type=self.mel_scale.value,
            mel_scale_norm=None if self.norm.value == "none" else self.norm.value,
            power_for_image=self.power.value,
        )

    @action("making the image and hearing it")
    def run(self) -> None:
        """Rebuild the filterbank, the image and the audio rebuilt from it with the current settings."""
        from ..image import spectrogram_from_image
        from ..mel import hz_to_mel
        from ..params import max_value_from_image
        from ..phase import spectral_convergence
        from ..plot import plot_filterbank, plot_image
        from ..spectrogram import audio_from_image, image_from_audio, spectrogram_from_audio

        params = self.params()
        mel = spectrogram_from_audio(self.samples, self.sample_rate, params)
        image = image_from_audio(self.samples, self.sample_rate, params)
        decoded = spectrogram_from_image(image, params.power_for_image, params.stereo, max_value_from_image(image))
        levels = len(np.unique(np.asarray(image)[..., 0]))
        audio, rate = audio_from_image(image, params, **self.phase_options)
        rows = [
            ("image", f"{image.width} x {image.height} pixels (one row per mel band)"),
            ("grey levels used", f"{levels} of 256"),
            ("8-bit quantisation error", f"{spectral_convergence(mel, decoded):.1f} dB (mel spectrogram vs image)"),
            ("quietest level kept", f"{quietest_level_db(params.power_for_image):.0f} dB below the peak (pixel 254)"),
        ]
        if params.mel_scale_type == "semitone":
            spacing = (hz_to_mel(params.max_frequency, "semitone") - hz_to_mel(params.min_frequency, "semitone")) / (
                params.num_frequencies + 1)
            rows.append(("band spacing", f"{spacing:.2f} semitones" + (" (one note per band)"
                                                                         if abs(spacing - 1) < 0.01 else "")))
        self.info.value = _table(rows)
        self.filterbank_figure.value = figure_html(
            plot_filterbank(params, every=max(1, params.num_frequencies // 64)), dpi=64)
        self.curve_figure.value = figure_html(power_curve_figure(params.power_for_image), dpi=64)
        self.image_figure.value = figure_html(plot_image(image, params, title="the image the model draws"))
        self.players.value = _players((self.samples, self.sample_rate, "original"),
                                      (audio, rate, "rebuilt from the image (normalised)"))
        self.image, self.reconstruction = image, audio


#: MIDI number of D#1 (38.9 Hz), the lowest edge of a semitone scale here: its first band is centred on E1
#: (41.2 Hz), a bass guitar's lowest string.
_LOWEST_EDGE_NOTE = 27


def semitone_bands(low: float, high: float, nyquist: float) -> tuple[int, int, int]:
    """``(low, high, bands)`` for a semitone scale with one equal-tempered note per band, from a range in Hz.

    Each end moves to the nearest note (in whole Hz; the low end to D#1 at least, 0 Hz has no note), and there is
    one band per note strictly between them: a semitone filterbank's edges are ``bands + 2`` points evenly spaced
    in semitones from ``low`` to ``high``, so every band is then one semitone wide and centred on a note.

    >>> semitone_bands(0, 10000, 22050)
    (39, 9956, 95)
    """
    from ..mel import hz_to_mel, mel_to_hz

    bottom = max(_LOWEST_EDGE_NOTE, round(float(hz_to_mel(max(low, 1), "semitone"))))
    top = round(float(hz_to_mel(high, "semitone")))
    if mel_to_hz(top, "semitone") > nyquist:
        top -= 1
    return round(float(mel_to_hz(bottom, "semitone"))), round(float(mel_to_hz(top, "semitone"))), top - bottom - 1


def quietest_level_db(power: float) -> float:
    """How far below the peak (dB) a magnitude can be and still darken a pixel: ``255 * x ** power >= 1``."""
    return 20 * np.log10(255.0) / power


def power_curve_figure(power: float):
    """Pixel value against level for Riffusion's image encoding, ``255 - int(255 * (|S| / max) ** power)``: the
    smooth curve and the 8-bit steps it is truncated to, down to a little below the quietest level kept."""
    from matplotlib.figure import Figure

    level_db = np.linspace(-1.1 * quietest_level_db(power), 0, 2000)
    scaled = (10 ** (level_db / 20)) ** power * 255
    figure = Figure(figsize=(4.6, 3.2), layout="constrained")
    ax = figure.add_subplot()
    ax.plot(level_db, 255 - scaled, label=f"255 (1 - x^{power:g})", linewidth=1)
    ax.step(level_db, 255 - np.floor(scaled), where="post", label="8-bit pixel", linewidth=1)
    ax.set_xlabel("level (dB below the peak)")
    ax.set_ylabel("pixel value (dark = loud)")
    ax.set_title(f"power {power:g}: 8-bit levels")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return figure


# ----------------------------------------------------------------------------------------------------------------


class PhaseExplorer(Panel):
    """Phase reconstruction, one iteration at a time: Griffin-Lim or fast Griffin-Lim, from PGHI, random or zero
    phase.

    Run computes every iteration once (through :func:`riffnb.phase.reconstruct_audio`'s callback); then the
    iteration slider shows each estimate's mel spectrogram next to the target's, where it stands on the
    spectral-convergence curve, and plays it.

    ``source="image"`` starts from Riffusion's 8-bit image of the audio (mel inversion first: what a generated
    image goes through); ``"stft"`` from the exact STFT magnitude of the audio.

    Examples
    --------
    >>> explorer = PhaseExplorer(n_iter=16)       # doctest: +SKIP
    >>> explorer.run()                            # doctest: +SKIP
    >>> explorer.iteration.value = 4              # doctest: +SKIP
    """

    title = "Phase reconstruction explorer"
    help = "press Run, then scrub the iterations: see and hear the phase converge"

    SOURCES = (("Riffusion image (mel, 8-bit)", "image"), ("exact STFT magnitude", "stft"))
    ALGORITHMS = (("fast Griffin-Lim", "fgla"), ("Griffin-Lim", "gla"))
    INITS = (("PGHI", "pghi"), ("random", "random"), ("zeros", "zeros"))

    def __init__(
        self,
        samples: np.ndarray | None = None,
        sample_rate: int | None = None,
        *,
        params: SpectrogramParams | None = None,
        source: str = "image",
        algorithm: str = "fgla",
        init: str = "pghi",
        n_iter: int = 32,
        momentum: float = 0.99,
        seed: int = 0,
        max_iter: int = 128,
    ) -> None:
        super().__init__()
        self.params = params or SpectrogramParams()
        self.sample_rate = int(sample_rate or self.params.sample_rate)
        self.samples = _source_audio(samples, self.sample_rate)
        self.source = W.Dropdown(options=self.SOURCES, value=source, description="start from",
                                 style=DESCRIPTION_STYLE)
        self.algorithm = W.Dropdown(options=self.ALGORITHMS, value=algorithm, description="algorithm",
                                    style=DESCRIPTION_STYLE)
        self.init = W.Dropdown(options=self.INITS, value=init, description="initial phase", style=DESCRIPTION_STYLE)
        self.n_iter = _slider(W.IntSlider, "iterations", n_iter, min=0, max=max_iter)
        self.momentum = _slider(W.FloatSlider, "momentum", momentum, min=0.0, max=0.999, step=0.01)
        self.seed = W.IntText(value=seed, description="seed", style=DESCRIPTION_STYLE, layout=W.Layout(width="220px"))
        self.run_button = W.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="compute every iteration")
        self._make_progress(n_iter, width="420px")
        self.iteration = _slider(W.IntSlider, "show iteration", 0, min=0, max=max(n_iter, 1), disabled=True)
        self.figure = W.HTML()
        self.curve = W.HTML()
        self.players = W.HTML()
        #: After a run: spectral convergence (dB) of every iteration 0..n_iter (0: the initial phase).
        self.convergence: list[float] = []
        self._estimates: list["PhaseEstimate"] = []
        self._scale = 1.0
        self._target_mel: np.ndarray | None = None
        self._control(self.source, self.algorithm, self.init, self.n_iter, self.momentum, self.seed, self.run_button,
                      self.iteration)
        self.run_button.on_click(lambda button: self.run())
        self.iteration.observe(self._on_iteration, names="value")
        self._assemble(
            W.HBox([W.VBox([self.source, self.algorithm, self.init]), W.VBox([self.n_iter, self.momentum, self.seed])]),
            W.HBox([self.run_button, self.progress]),
            self.iteration,
            W.HBox([self.figure, self.curve]),
            self.players,
        )

    @action("reconstructing the phase")
    def run(self) -> None:
        """Run the reconstruction with the current settings, keeping every iteration; then show the last one."""
        from ..image import spectrogram_from_image
        from ..params import max_value_from_image
        from ..phase import reconstruct_audio
        from ..spectrogram import INT16_SCALE, audio_from_image, image_from_audio, spectrogram_from_audio
        from ..stft import stft

        n_iter = self.n_iter.value
        estimates: list["PhaseEstimate"] = []
        convergence: list[float] = []

        def keep(iteration: int, estimate: "PhaseEstimate", score: float) -> None:
            # Only the signal is kept: the complex STFT of every iteration would take ten times the memory.
            estimates.append(dataclasses.replace(estimate, stft=None))
            convergence.append(float(score))
            self.progress.value = iteration

        options = dict(algorithm=self.algorithm.value, init=self.init.value, n_iter=n_iter,
                       momentum=self.momentum.value, seed=self.seed.value, callback=keep)
        p = self.params
        with self._tracking(n_iter):
            if self.source.value == "image":
                image = image_from_audio(self.samples, self.sample_rate, p)
                target = spectrogram_from_image(image, p.power_for_image, p.stereo, max_value_from_image(image))
                audio_from_image(image, p, normalize=False, **options)
                scale = INT16_SCALE
            else:
                from ..audio import resample

                audio = resample(self.samples, self.sample_rate, p.sample_rate)
                magnitude = np.abs(stft(audio, p.n_fft, p.hop_length, p.win_length))
                reconstruct_audio(magnitude, sample_rate=p.sample_rate, n_fft=p.n_fft, hop_length=p.hop_length,
                                  win_length=p.win_length, **options)
                target = spectrogram_from_audio(self.samples, self.sample_rate, p)
                scale = 1.0
        self._estimates, self.convergence, self._scale, self._target_mel = estimates, convergence, scale, target
        # Setting max first keeps value in range; the value change below draws nothing while we run.
        self.iteration.max = max(n_iter, 1)
        self.iteration.value = n_iter
        self._enable(self.iteration, True)
        self._show(n_iter)

    def audio_at(self, iteration: int) -> np.ndarray:
        """The estimate after ``iteration`` phase updates, ``(1, n)`` at the explorer's parameters' sample rate."""
        return self._estimates[iteration].audio() / self._scale

    def _on_iteration(self, change: dict) -> None:
        # run() moves the slider itself and draws once at the end.
        if not self.running and self._estimates:
            self.show_iteration(change["new"])

    @action("drawing the iteration")
    def show_iteration(self, iteration: int) -> None:
        """Show and play the estimate after ``iteration`` updates (0: the initial phase); needs a run first."""
        if not self._estimates:
            raise RiffnbError("nothing to show yet: press Run first")
        self._show(iteration)

    def _show(self, iteration: int) -> None:
        from ..plot import compare, plot_convergence
        from ..spectrogram import spectrogram_from_audio

        iteration = int(min(max(iteration, 0), len(self._estimates) - 1))
        p = self.params
        audio = self.audio_at(iteration)
        estimate_mel = spectrogram_from_audio(audio, p.sample_rate, p)
        frames = min(estimate_mel.shape[-1], self._target_mel.shape[-1])
        figure = compare({"target": self._target_mel[..., :frames],
                          f"iteration {iteration}": estimate_mel[..., :frames]}, params=p, difference=True)
        self.figure.value = figure_html(figure, dpi=56)
        curve = plot_convergence(self.convergence[1:], title=None)
        ax = curve.axes[0]
        ax.plot([0], [self.convergence[0]], "s", color="C1", label="initial phase")
        ax.axvline(iteration, color="C3", linewidth=1)
        ax.plot([iteration], [self.convergence[iteration]], "o", color="C3",
                label=f"iteration {iteration}: {self.convergence[iteration]:.1f} dB")
        ax.set_xlim(-0.5, max(len(self.convergence) - 1, 1) + 0.5)
        ax.legend(fontsize="small")
        self.curve.value = figure_html(curve, dpi=64)
        self.players.value = (
            player_html(self.samples, self.sample_rate, "original")
            + player_html(audio, p.sample_rate, f"iteration {iteration} ({self.convergence[iteration]:.1f} dB)")
        )
