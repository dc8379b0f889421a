"""Audio players for notebooks that work the same in JupyterLab, Notebook 7, VS Code and Colab.

A player is plain HTML: a caption and an ``<audio controls>`` element whose source is the clip as a 16-bit PCM
WAV in a ``data:`` URL. Every frontend renders that without widgets or extensions, it survives saving the
notebook, and nothing plays until the listener presses play (no autoplay, no loop).

Levels are honest by default: unlike ``IPython.display.Audio``, which scales every clip to full volume, a player
plays the samples as they are, so a quiet reconstruction sounds quiet. Audio beyond full scale (|x| > 1) would
clip, so it is scaled down just enough, and the caption says so by how many dB.

Size: a data URL is base64 of the WAV, 4/3 of its bytes. Mono 16-bit audio at 44.1 kHz takes about 118 kB per
second in the notebook (0.6 MB for a 5.12 s Riffusion clip, 7 MB a minute; stereo doubles it). Players over 10 MB
warn: resample (:func:`riffnb.audio.resample`) or trim long audio before playing it.

Examples
--------
>>> import numpy as np
>>> tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
>>> player = play(tone, 22050, label="A4")
>>> player
Player('A4', 1.00 s, 22050 Hz, mono)
>>> "<audio controls" in player._repr_html_() and "autoplay" not in player._repr_html_()
True
"""

from __future__ import annotations

import dataclasses
import html
import typing as T
import warnings

import numpy as np

from .audio import as_channels, audio_html
from .errors import RiffnbError

#: Players whose data URL exceeds this many bytes warn: notebooks that large are slow to save, open and share.
LARGE_PLAYER_BYTES = 10_000_000


def _level_note(gain: float, action: str) -> str:
    return f"{action} by {abs(20 * np.log10(gain)):.1f} dB"


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Player:
    """One labelled audio player. Shows itself as the last expression of a cell or through ``display()``.

    ``samples`` are what will be played (after any scaling); ``note`` says what was done to the level.
    """

    samples: np.ndarray
    sample_rate: int
    label: T.Optional[str] = None
    note: str = ""

    @property
    def duration(self) -> float:
        return self.samples.shape[-1] / self.sample_rate

    def caption(self) -> str:
        """Plain-text details under the label: duration, rate, channels and any level change."""
        channels = {1: "mono", 2: "stereo"}.get(self.samples.shape[0], f"{self.samples.shape[0]} channels")
        details = f"{self.duration:.2f} s, {self.sample_rate / 1000:g} kHz {channels}"
        return f"{details}; {self.note}" if self.note else details

    def _repr_html_(self) -> str:
        label = f"<b>{html.escape(self.label)}</b><br>" if self.label else ""
        return (
            '<figure class="riffnb-player" style="display: inline-block; margin: 4px 12px 4px 0; '
            'vertical-align: top">'
            f'<figcaption style="font-size: 0.9em; margin-bottom: 2px">{label}'
            f'<span style="opacity: 0.75">{html.escape(self.caption())}</span></figcaption>'
            f"{audio_html(self.samples, self.sample_rate)}</figure>"
        )

    def widget(self):
        """The player as an ``ipywidgets.HTML``, to place inside widget layouts (HBox, VBox, Tab)."""
        import ipywidgets

        return ipywidgets.HTML(value=self._repr_html_())

    def __repr__(self) -> str:
        channels = {1: "mono", 2: "stereo"}.get(self.samples.shape[0], f"{self.samples.shape[0]} channels")
        return f"Player({self.label!r}, {self.duration:.2f} s, {self.sample_rate} Hz, {channels})"


def _checked(samples, sample_rate) -> tuple[np.ndarray, int]:
    audio = as_channels(samples)
    if not np.isscalar(sample_rate) or int(sample_rate) != sample_rate or int(sample_rate) <= 0:
        raise RiffnbError(f"sample_rate must be a positive whole number of samples per second, got {sample_rate!r}")
    return audio, int(sample_rate)


def _warn_if_large(audio: np.ndarray, label: T.Optional[str]) -> None:
    size = (audio.size * 2 + 44) * 4 // 3
    if size > LARGE_PLAYER_BYTES:
        warnings.warn(
            f"the player for {label or 'this audio'} embeds {size / 1e6:.0f} MB in the notebook; resample or trim "
            "the audio (e.g. riffnb.audio.resample(samples, sr, 22050)) to keep the notebook small",
            stacklevel=3,
        )


def play(samples: np.ndarray, sample_rate: int, label: T.Optional[str] = None, normalize: bool = False) -> Player:
    """A player for audio ``(channels, n)`` or ``(n,)`` with an optional ``label``.

    ``normalize=False`` (the default) plays the level as it is, so players can be compared by ear; audio that
    exceeds full scale is scaled down to a peak of 1 and the caption says by how much. ``normalize=True`` scales
    the peak to 1, like ``IPython.display.Audio``. Nothing plays until pressed: no autoplay, no loop.

    See the module docstring for the size a player adds to the notebook.

    Examples
    --------
    >>> play(np.array([0.0, 2.0, -1.0]), 8000, "too loud").note
    'scaled down by 6.0 dB to avoid clipping'
    """
    audio, sample_rate = _checked(samples, sample_rate)
    _warn_if_large(audio, label)
    peak = float(np.abs(audio).max())
    note = ""
    if normalize and peak > 0 and peak != 1:
        note = _level_note(1 / peak, "normalised: " + ("raised" if peak < 1 else "lowered"))
        audio = audio / peak
    elif peak > 1:
        note = _level_note(1 / peak, "scaled down") + " to avoid clipping"
        audio = audio / peak
    elif peak == 0:
        note = "silent"
    return Player(audio, sample_rate, label, note)


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Players:
    """Several players side by side (wrapping to new rows as needed); shows itself like a :class:`Player`."""

    players: tuple[Player, ...]
    note: str = ""

    def _repr_html_(self) -> str:
        note = f'<div style="font-size: 0.85em; opacity: 0.75">{html.escape(self.note)}</div>' if self.note else ""
        inner = "".join(player._repr_html_() for player in self.players)
        return f'<div class="riffnb-players" style="display: flex; flex-wrap: wrap">{inner}</div>{note}'

    def widget(self):
        """The row of players as one ``ipywidgets.HTML``."""
        import ipywidgets

        return ipywidgets.HTML(value=self._repr_html_())

    def __len__(self) -> int:
        return len(self.players)

    def __getitem__(self, index: int) -> Player:
        return self.players[index]

    def __repr__(self) -> str:
        return "Players(" + ", ".join(repr(p) for p in self.players) + ")"


def play_all(items: T.Iterable, normalize: bool = False) -> Players:
    """Players for several clips in one output: ``[(samples, sample_rate, label), (samples, sample_rate), ...]``
    or a ``{label: (samples, sample_rate)}`` mapping.

    Without ``normalize`` the clips keep their relative levels: if any exceeds full scale, all are scaled down by
    the same amount (so the comparison stays fair) and a note says so. With ``normalize`` each clip is brought to
    a peak of 1 on its own.

    Examples
    --------
    >>> x = np.sin(np.linspace(0, 2000, 8000))
    >>> row = play_all({"loud": (1.5 * x, 8000), "quiet": (0.5 * x, 8000)})
    >>> row.note, round(float(np.abs(row[1].samples).max()), 3)
    ('all scaled down by 3.5 dB to avoid clipping (relative levels kept)', 0.333)
    """
    if isinstance(items, T.Mapping):
        items = [(*value, label) for label, value in items.items()]
    entries = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise RiffnbError(f"play_all takes (samples, sample_rate) or (samples, sample_rate, label) items, got "
                              f"{type(item).__name__}")
        samples, sample_rate, label = (*item, None) if len(item) == 2 else item
        audio, sample_rate = _checked(samples, sample_rate)
        _warn_if_large(audio, label)
        entries.append((audio, sample_rate, label))
    if not entries:
        raise RiffnbError("play_all needs at least one clip")
    if normalize:
        return Players(tuple(play(audio, rate, label, normalize=True) for audio, rate, label in entries))
    peak = max(float(np.abs(audio).max()) for audio, _, _ in entries)
    if peak <= 1:
        return Players(tuple(play(audio, rate, label) for audio, rate, label in entries))
    note = _level_note(1 / peak, "all scaled down") + " to avoid clipping (relative levels kept)"
    return Players(tuple(Player(audio / peak, rate, label) for audio, rate, label in entries), note)
