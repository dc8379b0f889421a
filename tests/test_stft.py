import numpy as np
import pytest
import torch

from riffnb.stft import frame_signal, get_window, istft, num_frames, stft


@pytest.fixture(scope="module")
def music():
    rng = np.random.default_rng(1)
    t = np.arange(int(1.3 * 44100)) / 44100
    return 0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-2 * t) + 0.05 * rng.normal(size=t.size)


def torch_stft(x, n_fft, hop, win):
    tensor = torch.from_numpy(x)
    return torch.stft(tensor, n_fft, hop, win, torch.hann_window(win, dtype=torch.float64), center=True,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True).numpy()


@pytest.mark.parametrize("n_fft, hop, win", [(17640, 441, 4410), (1024, 256, 1024), (2048, 300, 1000)])
def test_stft_matches_torch(music, n_fft, hop, win):
    ours = stft(music, n_fft, hop, win)
    reference = torch_stft(music, n_fft, hop, win)
    assert ours.shape == reference.shape == (n_fft // 2 + 1, num_frames(music.size, hop, n_fft))
    assert np.abs(ours - reference).max() < 1e-9 * np.abs(reference).max()


def test_istft_inverts_stft_and_matches_torch(music):
    S = stft(music, 17640, 441, 4410)
    back = istft(S, 441, 4410, 17640, length=music.size)
    assert np.abs(back - music).max() < 1e-9
    reference = torch.istft(torch.from_numpy(S), 17640, 441, 4410, torch.hann_window(4410, dtype=torch.float64),
                            center=True, length=music.size).numpy()
    assert np.abs(back - reference).max() < 1e-9


def test_multichannel_axes_lead():
    x = np.random.default_rng(0).normal(size=(2, 3, 5000))
    S = stft(x, 512, 128, 256)
    assert S.shape == (2, 3, 257, 1 + 5000 // 128)
    assert np.allclose(S[1, 2], stft(x[1, 2], 512, 128, 256))
    assert np.allclose(istft(S, 128, 256, 512, length=5000), x)


def test_window_is_periodic_hann_centred():
    w = get_window("hann", 4410, 17640)
    left = (17640 - 4410) // 2
    assert np.count_nonzero(w) == 4409 and w[left] == 0.0 and w[left + 2205] == 1.0
    assert np.allclose(w[left:left + 4410], torch.hann_window(4410, dtype=torch.float64).numpy())


def test_frames_are_centred_on_hops():
    x = np.arange(20.0)
    frames = frame_signal(x, 4, 5, center=True, pad_mode="constant")
    assert frames.shape == (5, 4)
    assert frames[1].tolist() == [3.0, 4.0, 5.0, 6.0]  # frame t is centred on sample t * hop


def test_too_short_for_reflect_padding_says_so():
    with pytest.raises(ValueError, match="too short"):
        stft(np.ones(100), 17640, 441, 4410)


def test_istft_refuses_sizes_in_stfts_order_and_bad_sizes(music):
    S = stft(music, 2048, 512, 1024)
    with pytest.raises(ValueError, match="librosa's order: pass the sizes by keyword"):
        istft(S, 2048, 512, 1024)
    for bad in ({"hop_length": 0}, {"hop_length": 2.5}, {"win_length": -1}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be a positive integer"):
            stft(music, 2048, **{"hop_length": 512, **bad})
    with pytest.raises(ValueError, match="length must be a positive integer"):
        istft(S, 512, 1024, 2048, length=-5)


@pytest.mark.parametrize("n_fft", [1023, 1024])
def test_num_frames_counts_what_stft_returns(n_fft):
    x = np.zeros(10000)
    for center in (True, False):
        assert stft(x, n_fft, 100, center=center).shape[-1] == num_frames(x.size, 100, n_fft, center=center)
