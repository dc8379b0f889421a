"""The torch backend of :mod:`riffnb.phase`: the same Griffin-Lim iterations on torch tensors, for GPU batches.

:func:`riffnb.phase.reconstruct_audio` with ``backend="torch"`` plans the grid, computes the initial phase (PGHI
runs on the CPU: it is sequential) and then drives :class:`TorchStftOperator` through the very same
:func:`riffnb.phase.griffin_lim_step` the numpy backend uses; only the STFT pair and the phase update differ.
Spectrograms are ``(batch, freq, frames)`` (any leading shape), stored frames-major like the numpy backend's.

Like the numpy operator, it frames and overlap-adds by hand instead of calling ``torch.stft`` / ``torch.istft``:
those allocate padded copies and window sums on every call, and the window support is all that needs touching.
This module is the only one in riffnb.phase's layer that imports torch; riffnb.phase imports it on demand.
"""

from __future__ import annotations

import numpy as np
import torch

from .phase import _TINY, overlap_add_window, set_frame_geometry


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchStftOperator:
    """:class:`riffnb.phase.StftOperator` on torch tensors: a centred STFT pair at one size, float32/complex64.

    ``forward(samples (..., (n_frames - 1) * hop_length))`` gives ``(..., n_fft // 2 + 1, n_frames)``;
    ``inverse`` is the least-squares overlap-add; ``apply_phase`` is fast Griffin-Lim's magnitude projection.

    Examples
    --------
    >>> from riffnb.stft import stft
    >>> x = np.random.default_rng(0).normal(size=44100)
    >>> op = TorchStftOperator(2048, 441, 2048, n_frames=101, device="cpu")
    >>> X = op.forward(torch.from_numpy(x).float())
    >>> bool(np.allclose(X.numpy(), stft(x, 2048, 441, 2048), atol=1e-3))
    True
    >>> bool((op.inverse(X) - torch.from_numpy(x)).abs().max() < 1e-4)
    True
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, n_frames: int, lead_shape: tuple = (),
                 device=None):
        from .errors import RiffnbError

        try:
            self.device = default_device() if device is None else torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise RiffnbError(f"device {device!r} is not a torch device ({error}); pass e.g. 'cpu' or 'cuda'") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RiffnbError("device 'cuda' asked for, but torch sees no GPU; pass device='cpu' or drop device")
        set_frame_geometry(self, n_fft, hop_length, win_length, n_frames, lead_shape)
        left, window, inverse_window_sum = overlap_add_window(n_fft, hop_length, win_length, n_frames)
        self.left = left
        self.window = torch.from_numpy(window).to(self.device)
        self.inverse_window_sum = torch.from_numpy(inverse_window_sum).to(self.device)
        batch = int(np.prod(self.lead_shape, dtype=np.int64))
        self._padded = torch.zeros((batch, self.length + n_fft), dtype=torch.float32, device=self.device)
        # Zeros outside the window's support stay zero: forward() only ever writes the support.
        self._frames = torch.zeros((batch, n_frames, n_fft), dtype=torch.float32, device=self.device)

    def to_device(self, array: np.ndarray) -> torch.Tensor:
        """A numpy spectrogram ``(..., freq, frames)`` as a tensor on this device, stored frames-major."""
        frames_major = np.ascontiguousarray(np.swapaxes(array, -1, -2))
        return torch.from_numpy(frames_major).to(self.device).transpose(-1, -2)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """STFT ``(..., n_fft // 2 + 1, n_frames)`` (complex64) of ``samples (..., (n_frames - 1) * hop_length)``."""
        padded, pad, length = self._padded, self.pad, self.length
        padded[:, pad : pad + length] = samples.reshape(-1, length)
        # Reflect padding as torch.stft(center=True) does: x[-i] = x[i], x[n - 1 + i] = x[n - 1 - i].
        padded[:, :pad] = padded[:, pad + 1 : 2 * pad + 1].flip(-1)
        end = pad + length - 1
        right = padded.shape[-1] - end - 1
        padded[:, end + 1 :] = padded[:, end - right : end].flip(-1)
        frames = padded[:, self.left :].unfold(-1, self.win_length, self.hop_length)[:, : self.n_frames]
        torch.mul(frames, self.window, out=self._frames[..., self.left : self.left + self.win_length])
        spectrum = torch.fft.rfft(self._frames, dim=-1)
        return spectrum.reshape(self.lead_shape + spectrum.shape[1:]).transpose(-1, -2)

    def inverse(self, stft_matrix: torch.Tensor) -> torch.Tensor:
        """Samples ``(..., (n_frames - 1) * hop_length)`` whose STFT is closest to ``stft_matrix`` (least squares)."""
        frames = torch.fft.irfft(stft_matrix.transpose(-1, -2), n=self.n_fft, dim=-1)
        support = frames[..., self.left : self.left + self.win_length] * self.window
        support = support.reshape(-1, self.n_frames, self.win_length).transpose(1, 2)
        # fold sums overlapping columns: the overlap-add of all frames in one kernel.
        span = self.length + self.win_length
        summed = torch.nn.functional.fold(support, output_size=(1, span), kernel_size=(1, self.win_length),
                                          stride=(1, self.hop_length))
        padded = self._padded
        padded.zero_()
        padded[:, self.left : self.left + span] = summed.reshape(-1, span)
        padded *= self.inverse_window_sum
        samples = padded[:, self.pad : self.pad + self.length].clone()
        return samples.reshape(self.lead_shape + (self.length,))

    def apply_phase(self, magnitude: torch.Tensor, rebuilt: torch.Tensor, previous: torch.Tensor | None,
                    momentum: float) -> torch.Tensor:
        """``magnitude`` with the phase of ``rebuilt - momentum / (1 + momentum) * previous`` (0 where that is 0)."""
        direction = rebuilt if previous is None or momentum == 0 else rebuilt - (momentum / (1 + momentum)) * previous
        # The unit phase first: magnitude / (|d| + tiny) would overflow to inf where d == 0, and inf * 0 is NaN.
        return direction / (direction.abs() + _TINY) * magnitude
