"""Notebook figures: spectrograms (mel, linear, and Riffusion's image as the model sees it), waveforms, the mel
filterbank, side-by-side comparisons and Griffin-Lim convergence curves.

Every axis is labelled with its unit: time in seconds, frequency in Hz (on a mel-scaled axis, the tick labels
are Hz placed at the mel bands that hold them), levels in dB relative to the loudest value shown.

Matplotlib is imported inside the functions, so ``import riffnb`` stays fast. A function given ``ax`` draws
into it and returns that Axes (the figure is yours, and pyplot shows it as usual). Without ``ax`` it makes a figure,
detaches it from pyplot and returns the :class:`~matplotlib.figure.Figure`: as the last line of a cell it is shown
exactly once (pyplot would otherwise show it a second time at the end of the cell); elsewhere pass it to
``display()``, or save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

import typing as T

import numpy as np

from .audio import as_channels
from .errors import RiffnbError
from .mel import hz_to_mel, mel_filterbank, mel_frequencies
from .params import SpectrogramParams

if T.TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from PIL import Image

_TICK_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
_TICK_PRIORITY = (1000, 100, 10000, 500, 5000, 2000, 200, 20000, 50, 20)


def _new_figure(ax, ncols: int = 1, figsize=None, **subplot_kw):
    """(figure, axes, made_here). A figure made here is closed in pyplot at once: the caller returns it, and the
    inline backend would otherwise display it a second time at the end of the cell."""
    if ax is not None:
        return ax.figure, ax, False
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=figsize or (4.2 * ncols + 1.8, 3.6), squeeze=False,
                             layout="constrained", **subplot_kw)
    plt.close(fig)
    return fig, (axes[0, 0] if ncols == 1 else axes[0]), True


def _finish(fig, ax, made_here: bool):
    return fig if made_here else ax


def _hz_label(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


def _mel_ticks(ax, params: SpectrogramParams, rows: int) -> None:
    """Label a band-index y axis with Hz at the mel positions of round frequencies."""
    centres = mel_frequencies(rows, params.min_frequency, params.max_frequency, params.mel_scale_type)
    centre_mels = hz_to_mel(centres, params.mel_scale_type)
    candidates = np.array([hz for hz in _TICK_HZ if centres[0] <= hz <= centres[-1]], dtype=float)
    positions = np.interp(hz_to_mel(candidates, params.mel_scale_type), centre_mels, np.arange(rows))
    # Low frequencies bunch up on a mel axis: take the roundest numbers first and skip any label that would
    # crowd one already placed.
    kept: list[int] = []
    for index in sorted(range(len(candidates)), key=lambda i: _TICK_PRIORITY.index(candidates[i])):
        if all(abs(positions[index] - positions[k]) >= 0.06 * rows for k in kept):
            kept.append(index)
    kept.sort()
    ax.set_yticks(positions[kept])
    ax.set_yticklabels([_hz_label(candidates[i]) for i in kept])
    ax.set_ylabel(f"frequency (Hz, {'semitone' if params.mel_scale_type == 'semitone' else 'mel'} scale)")


def _frequency_scale(rows: int, params: SpectrogramParams, scale: str) -> str:
    if scale in ("mel", "linear"):
        return scale
    if scale != "auto":
        raise RiffnbError(f"scale must be 'auto', 'mel' or 'linear', got {scale!r}")
    if rows == params.n_fft // 2 + 1:
        return "linear"
    if rows == params.num_frequencies:
        return "mel"
    raise RiffnbError(
        f"a spectrogram with {rows} frequency rows matches neither {params.num_frequencies} mel bands nor "
        f"{params.n_fft // 2 + 1} STFT bins of these params; pass scale='mel' or scale='linear', or matching params"
    )


def _as_2d(spectrogram, channel: int) -> np.ndarray:
    data = np.asarray(spectrogram, dtype=float)
    if data.ndim == 3:
        if not 0 <= channel < data.shape[0]:
            raise RiffnbError(f"channel {channel} does not exist: the spectrogram has {data.shape[0]} channel(s)")
        data = data[channel]
    if data.ndim != 2:
        raise RiffnbError(f"a spectrogram must be (freq, frames) or (channels, freq, frames), got shape {data.shape}")
    if not np.isfinite(data).all():
        raise RiffnbError("the spectrogram holds NaN or infinite values; clean it before plotting")
    return data


def _levels(data: np.ndarray, db: bool, top_db: float, reference: float) -> np.ndarray:
    if not db:
        return data
    return np.maximum(20 * np.log10(np.maximum(np.abs(data), 1e-12 * reference) / reference), -top_db)


def _draw_spectrogram(ax, data: np.ndarray, params: SpectrogramParams, scale: str, *, vmin, vmax, cmap: str,
                      fmax: T.Optional[float] = None):
    """Image of ``data`` (freq, frames) already in display units, axes in seconds and Hz."""
    rows, frames = data.shape
    duration = frames * params.hop_length / params.sample_rate
    if scale == "mel":
        artist = ax.imshow(data, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                           extent=(0, duration, -0.5, rows - 0.5), interpolation="nearest")
        _mel_ticks(ax, params, rows)
    else:
        nyquist = params.sample_rate / 2
        bin_hz = nyquist / (rows - 1)
        top = min(fmax or nyquist, nyquist)
        # Rows above the shown range would only be resampled away: drawing 8821 bins to show 10 kHz costs seconds.
        kept = min(rows, int(np.ceil(top / bin_hz)) + 1)
        artist = ax.imshow(data[:kept], origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                           extent=(0, duration, -bin_hz / 2, (kept - 0.5) * bin_hz), interpolation="nearest")
        ax.set_ylim(0, top)
        ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")
    return artist


def plot_spectrogram(
    spectrogram,
    params: T.Optional[SpectrogramParams] = None,
    *,
    ax: T.Optional["Axes"] = None,
    title: T.Optional[str] = None,
    scale: str = "auto",
    db: bool = True,
    top_db: float = 80.0,
    fmax: T.Optional[float] = None,
    channel: int = 0,
    cmap: str = "magma",
    colorbar: bool = True,
) -> T.Union["Figure", "Axes"]:
    """Draw a magnitude spectrogram: time in seconds across, frequency in Hz up, level as colour.

    Parameters
    ----------
    spectrogram : ``(freq, frames)`` or ``(channels, freq, frames)`` magnitudes, or a PIL image (then this is
        :func:`plot_image`).
    params : the :class:`~riffnb.params.SpectrogramParams` it was made with (Riffusion's by default): hop and
        sample rate give the time axis, mel bands or FFT size the frequency axis.
    scale : ``"mel"`` (rows are mel bands: Hz labels sit at the bands holding them), ``"linear"`` (rows are STFT
        bins from 0 Hz to Nyquist) or ``"auto"`` (decided by the number of rows).
    db, top_db : show ``20 log10(|S| / max|S|)`` floored at ``-top_db`` (default), or the raw magnitude.
    fmax : top of a linear frequency axis in Hz (Nyquist by default).

    Examples
    --------
    >>> from riffnb.synth import render_demo_clip
    >>> from riffnb.spectrogram import spectrogram_from_audio
    >>> fig = plot_spectrogram(spectrogram_from_audio(render_demo_clip(), 44100), title="demo")  # doctest: +SKIP
    """
    if _is_image(spectrogram):
        return plot_image(spectrogram, params, ax=ax, title=title, colorbar=colorbar)
    params = params or SpectrogramParams()
    data = _as_2d(spectrogram, channel)
    kind = _frequency_scale(data.shape[0], params, scale)
    reference = float(np.abs(data).max()) or 1.0
    shown = _levels(data, db, top_db, reference)
    fig, ax, made_here = _new_figure(ax)
    artist = _draw_spectrogram(ax, shown, params, kind, vmin=-top_db if db else 0.0, vmax=0.0 if db else reference,
                               cmap=cmap, fmax=fmax)
    if colorbar:
        fig.colorbar(artist, ax=ax, label="level (dB re max)" if db else "magnitude")
    if title:
        ax.set_title(title)
    return _finish(fig, ax, made_here)


def _is_image(value) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def plot_image(
    image: "Image.Image",
    params: T.Optional[SpectrogramParams] = None,
    *,
    ax: T.Optional["Axes"] = None,
    title: T.Optional[str] = None,
    colorbar: bool = True,
) -> T.Union["Figure", "Axes"]:
    """Show a Riffusion spectrogram image as the model sees it: its pixels (dark = loud), on seconds and Hz axes.

    ``params`` default to those in the image's EXIF (Riffusion's defaults when it has none). A mono image is
    drawn in grey with a colour bar of pixel values; a stereo one in its own colours (green left, blue right).

    Examples
    --------
    >>> from PIL import Image
    >>> fig = plot_image(Image.new("RGB", (512, 512), "white"))
    >>> fig.axes[0].get_xlabel(), fig.axes[1].get_ylabel()
    ('time (s)', 'pixel value (0-255, dark = loud)')
    """
    from .image import check_image_mode
    from .params import params_from_image

    check_image_mode(image)
    params = params or params_from_image(image)
    pixels = np.asarray(image.convert("RGB"))
    mono = bool((pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all())
    fig, ax, made_here = _new_figure(ax)
    rows = pixels.shape[0]
    extent = (0, pixels.shape[1] * params.hop_length / params.sample_rate, -0.5, rows - 0.5)
    # The image is stored top row = highest band; origin="upper" keeps it the right way up on a band axis.
    if mono:
        artist = ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255, aspect="auto", extent=extent,
                           interpolation="nearest")
        if colorbar:
            fig.colorbar(artist, ax=ax, label="pixel value (0-255, dark = loud)")
    else:
        ax.imshow(pixels, aspect="auto", extent=extent, interpolation="nearest")
    _mel_ticks(ax, params, rows)
    ax.set_xlabel("time (s)")
    if title:
        ax.set_title(title)
    return _finish(fig, ax, made_here)


def plot_waveform(
    samples: np.ndarray,
    sample_rate: int,
    *,
    ax: T.Optional["Axes"] = None,
    title: T.Optional[str] = None,
) -> T.Union["Figure", "Axes"]:
    """Draw audio ``(channels, n)`` or ``(n,)`` against time in seconds; a stereo clip draws left and right.

    Long clips are drawn as their minimum/maximum per display column (every peak kept, a fraction of the points).
    The full scale, +-1, is marked when the audio exceeds it: those samples would clip when saved.

    Examples
    --------
    >>> fig = plot_waveform(np.sin(np.linspace(0, 100, 44100)), 44100)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('time (s)', 'amplitude')
    """
    audio = as_channels(samples)
    if sample_rate <= 0:
        raise RiffnbError(f"sample_rate must be positive, got {sample_rate}")
    fig, ax, made_here = _new_figure(ax)
    n = audio.shape[1]
    names = ("left", "right") if audio.shape[0] == 2 else tuple(f"channel {i}" for i in range(audio.shape[0]))
    columns = 2000
    for index, channel in enumerate(audio):
        label = names[index] if audio.shape[0] > 1 else None
        if n > 4 * columns:
            edges = np.linspace(0, n, columns + 1).astype(int)
            low = np.minimum.reduceat(channel, edges[:-1])
            high = np.maximum.reduceat(channel, edges[:-1])
            times = edges[:-1] / sample_rate
            ax.fill_between(times, low, high, step="post", linewidth=0.5, alpha=0.8 if index == 0 else 0.6,
                            label=label)
        else:
            ax.plot(np.arange(n) / sample_rate, channel, linewidth=0.8, label=label)
    peak = float(np.abs(audio).max())
    if peak > 1:
        for level in (-1, 1):
            ax.axhline(level, color="red", linestyle=":", linewidth=1)
    limit = max(1.0, peak) * 1.05
    ax.set_ylim(-limit, limit)
    ax.set_xlim(0, n / sample_rate)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    if audio.shape[0] > 1:
        ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    return _finish(fig, ax, made_here)


def plot_filterbank(
    params: T.Optional[SpectrogramParams] = None,
    *,
    filterbank: T.Optional[np.ndarray] = None,
    every: int = 1,
    ax: T.Optional["Axes"] = None,
    title: T.Optional[str] = None,
) -> T.Union["Figure", "Axes"]:
    """Draw the mel filterbank: each band's triangle of weights over the STFT bin frequencies in Hz.

    The filterbank is the one ``params`` define (Riffusion's 512 HTK bands, 0-10 kHz, by default) unless one is
    given as ``(n_mels, n_fft // 2 + 1)``. ``every`` draws only every n-th band, which helps see the triangles
    when there are hundreds of them: narrow and dense at low frequencies, wide and sparse at high ones.

    Examples
    --------
    >>> fig = plot_filterbank(every=8)
    >>> len(fig.axes[0].collections[0].get_segments())
    64
    """
    from matplotlib.collections import LineCollection

    params = params or SpectrogramParams()
    if filterbank is None:
        filterbank = mel_filterbank(params.sample_rate, params.n_fft, params.num_frequencies, params.min_frequency,
                                    params.max_frequency, params.mel_scale_norm, params.mel_scale_type)
    filterbank = np.asarray(filterbank)
    if every < 1:
        raise RiffnbError(f"every must be a positive integer, got {every}")
    frequencies = np.linspace(0, params.sample_rate // 2, filterbank.shape[1])
    segments = []
    for band in filterbank[::every]:
        support = np.flatnonzero(band)
        if support.size == 0:
            segments.append(np.zeros((0, 2)))
            continue
        # One zero bin either side closes the triangle down to the axis.
        lo, hi = max(support[0] - 1, 0), min(support[-1] + 1, band.size - 1)
        segments.append(np.column_stack([frequencies[lo : hi + 1], band[lo : hi + 1]]))
    fig, ax, made_here = _new_figure(ax, figsize=(8, 3.2))
    colours = [f"C{i % 10}" for i in range(len(segments))]
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=0.9))
    top = frequencies[np.flatnonzero(filterbank.any(axis=0))[-1]] if filterbank.any() else frequencies[-1]
    ax.set_xlim(0, top * 1.02)
    ax.set_ylim(0, float(filterbank.max()) * 1.08 if filterbank.any() else 1)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("weight")
    shown = len(segments)
    ax.set_title(title or f"{filterbank.shape[0]} mel bands" + (f" (every {every}th shown: {shown})" if every > 1
                                                               else ""))
    return _finish(fig, ax, made_here)


def _kind_of(item) -> str:
    if _is_image(item):
        return "image"
    array = np.asarray(item)
    if array.ndim == 1 or (array.ndim == 2 and array.shape[0] <= 2):
        return "waveform"
    return "spectrogram"


def compare(
    items: T.Union[T.Sequence, T.Mapping[str, T.Any]],
    titles: T.Optional[T.Sequence[str]] = None,
    *,
    params: T.Optional[SpectrogramParams] = None,
    sample_rate: T.Optional[int] = None,
    scale: str = "auto",
    db: bool = True,
    top_db: float = 80.0,
    difference: bool = False,
    cmap: str = "magma",
) -> "Figure":
    """Side-by-side panels with shared axes: spectrograms, Riffusion images or waveforms (say original vs
    reconstructed).

    ``items`` is a sequence (with ``titles``) or a ``{title: item}`` mapping, all of one kind: PIL images,
    spectrograms ``(freq, frames)``/``(channels, freq, frames)``, or waveforms ``(n,)``/``(channels, n)`` (which
    need ``sample_rate``). Spectrograms share one colour scale, in dB relative to the loudest of them all, so a
    quieter reconstruction looks quieter. ``difference=True`` (two spectrograms) adds a third panel: the second
    minus the first in dB, red where the second is louder.

    Examples
    --------
    >>> a = np.abs(np.random.default_rng(0).normal(size=(512, 100)))
    >>> fig = compare({"original": a, "half as loud": a / 2}, difference=True)
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['original', 'half as loud', 'half as loud - original']
    """
    if isinstance(items, T.Mapping):
        titles, items = list(items.keys()), list(items.values())
    items = list(items)
    if not items:
        raise RiffnbError("compare needs at least one item")
    titles = list(titles) if titles is not None else [f"#{i + 1}" for i in range(len(items))]
    if len(titles) != len(items):
        raise RiffnbError(f"got {len(items)} items but {len(titles)} titles; give one title per item")
    kinds = {_kind_of(item) for item in items}
    if len(kinds) > 1:
        raise RiffnbError(f"compare items of one kind (got {', '.join(sorted(kinds))}); plot them separately")
    kind = kinds.pop()
    if difference and (kind != "spectrogram" or len(items) != 2):
        raise RiffnbError("difference=True compares exactly two spectrograms")
    panels = len(items) + int(difference)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels + 1.8, 3.6), sharex=True, sharey=True, squeeze=False,
                             layout="constrained")
    plt.close(fig)
    axes = list(axes[0])
    if kind == "waveform":
        if not sample_rate:
            raise RiffnbError("comparing waveforms needs their sample_rate")
        for ax, item, title in zip(axes, items, titles):
            plot_waveform(item, sample_rate, ax=ax, title=title)
        for ax in axes[1:]:
            ax.set_ylabel("")
    elif kind == "image":
        for ax, item, title in zip(axes, items, titles):
            plot_image(item, params, ax=ax, title=title, colorbar=ax is axes[-1])
    else:
        params = params or SpectrogramParams()
        datas = [_as_2d(item, 0) for item in items]
        if len({d.shape for d in datas}) > 1:
            raise RiffnbError(f"spectrograms to compare differ in shape: {[d.shape for d in datas]}")
        frequency_scale = _frequency_scale(datas[0].shape[0], params, scale)
        reference = max(float(np.abs(d).max()) for d in datas) or 1.0
        shown = [_levels(d, db, top_db, reference) for d in datas]
        vmin, vmax = (-top_db, 0.0) if db else (0.0, reference)
        for ax, data, title in zip(axes, shown, titles):
            artist = _draw_spectrogram(ax, data, params, frequency_scale, vmin=vmin, vmax=vmax, cmap=cmap)
            ax.set_title(title)
        fig.colorbar(artist, ax=axes[: len(items)], label="level (dB re loudest)" if db else "magnitude")
        if difference:
            floor = 1e-12 * reference
            delta = 20 * np.log10((np.abs(datas[1]) + floor) / (np.abs(datas[0]) + floor))
            artist = _draw_spectrogram(axes[-1], np.clip(delta, -20, 20), params, frequency_scale, vmin=-20,
                                       vmax=20, cmap="RdBu_r")
            axes[-1].set_title(f"{titles[1]} - {titles[0]}")
            fig.colorbar(artist, ax=axes[-1], label="difference (dB)")
        for ax in axes[1:]:
            ax.set_ylabel("")
    return fig


def plot_convergence(
    values_db: T.Union[T.Sequence[float], T.Mapping[str, T.Sequence[float]]],
    *,
    ax: T.Optional["Axes"] = None,
    title: T.Optional[str] = "Griffin-Lim convergence",
) -> T.Union["Figure", "Axes"]:
    """Spectral convergence in dB (lower is better) after each Griffin-Lim iteration, numbered from 1.

    ``values_db`` is one curve, or ``{label: curve}`` for several (say GLA vs fast Griffin-Lim, or random vs PGHI
    initialisation). Non-finite values (a perfect -inf) are left out.

    Examples
    --------
    >>> fig = plot_convergence({"fgla": [-10, -15, -18], "gla": [-9, -11, -12]})
    >>> fig.axes[0].get_ylabel(), bool(fig.axes[0].get_xlim()[0] <= 1)
    ('spectral convergence (dB)', True)
    """
    curves = dict(values_db) if isinstance(values_db, T.Mapping) else {None: values_db}
    fig, ax, made_here = _new_figure(ax)
    from matplotlib.ticker import MaxNLocator

    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        iterations = np.arange(1, values.size + 1)
        finite = np.isfinite(values)
        ax.plot(iterations[finite], values[finite], marker="." if values.size <= 64 else None, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration")
    ax.set_ylabel("spectral convergence (dB)")
    ax.grid(True, alpha=0.3)
    if any(label is not None for label in curves):
        ax.legend()
    if title:
        ax.set_title(title)
    return _finish(fig, ax, made_here)
