"""Independent reference implementations of what Riffusion computes, written from its published behaviour.

Tests compare riffnb against these; they are deliberately plain (loops, step-by-step) rather than fast.
"""

import numpy as np
import torch


def torchaudio_filterbank_by_formula(sample_rate, n_fft, n_mels, f_min, f_max):
    """torchaudio.functional.melscale_fbanks (HTK, norm None) written out filter by filter, bin by bin."""
    n_freqs = n_fft // 2 + 1
    freqs = [k * (sample_rate // 2) / (n_freqs - 1) for k in range(n_freqs)]
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    step = (mel(f_max) - mel(f_min)) / (n_mels + 1)
    edges = [hz(mel(f_min) + i * step) for i in range(n_mels + 2)]
    fb = np.zeros((n_mels, n_freqs))
    for m in range(n_mels):
        lo, centre, hi = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(freqs):
            if lo <= f <= centre:
                fb[m, k] = (f - lo) / (centre - lo)
            elif centre < f <= hi:
                fb[m, k] = (hi - f) / (hi - centre)
    return fb


def riffusion_encode(spectrogram, power=0.25):
    """Riffusion's image_from_spectrogram, step by step as its source does it."""
    max_value = np.max(spectrogram)
    data = spectrogram / max_value
    data = np.power(data, power)
    data = data * 255
    data = 255 - data
    data = data.astype(np.uint8)
    if data.shape[0] == 1:
        rgb = np.repeat(data[0][..., None], 3, axis=-1)
    else:
        rgb = np.array([np.zeros_like(data[0]), data[0], data[1]]).transpose(1, 2, 0)
    return rgb[::-1]


def riffusion_decode(rgb, power=0.25, stereo=False, max_value=30e6):
    data = rgb[::-1].transpose(2, 0, 1)
    data = data[[1, 2]] if stereo else data[0:1]
    data = data.astype(np.float32)
    data = 255 - data
    data = data / 255
    data = np.power(data, 1 / power)
    return data * max_value


def riffusion_mel_spectrogram(samples, sample_rate=44100, n_fft=17640, hop=441, win=4410, n_mels=512,
                              f_min=0, f_max=10000):
    """Riffusion's torchaudio chain: int16-scaled samples, torch.stft (centred, reflect, periodic Hann), |.|, mel."""
    tensor = torch.from_numpy(np.asarray(samples, dtype=np.float64) * 32768.0)
    spec = torch.stft(tensor, n_fft, hop, win, torch.hann_window(win, dtype=torch.float64), center=True,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True).abs().numpy()
    return torchaudio_filterbank_by_formula(sample_rate, n_fft, n_mels, f_min, f_max) @ spec
