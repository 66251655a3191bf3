"""MFCC of a mono signal in our own numpy: the audio input of tag suggestion (seed 004).

The seed's recipe (claim 7, S510–S550): pre-emphasis, 10–30 ms frames, Hamming window,
STFT power spectrum, Mel filter bank, log, DCT. The defaults reproduce
``python_speech_features.mfcc(..., winfunc=numpy.hamming)`` (a test holds us to it),
so its liftering and "frame energy as coefficient 0" are on by default; both can be
switched off. Written here rather than depended on so the serving image needs no extra
package and the exact arithmetic is ours to export or port.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from pydantic import BaseModel, ConfigDict, Field, model_validator

SAMPLE_RATE = 16_000  # what decode_audio resamples to and the MFCC expects


class MfccConfig(BaseModel):
    """How a signal becomes a [frames, n_ceps] MFCC sequence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_rate: int = Field(default=SAMPLE_RATE, ge=4_000, le=96_000)
    frame_ms: float = Field(default=25.0, ge=10.0, le=30.0, description="seed: 10–30 ms")
    hop_ms: float = Field(default=10.0, gt=0.0, le=30.0, description="frame step")
    n_mels: int = Field(default=26, ge=4, le=128, description="Mel filters")
    n_ceps: int = Field(default=13, ge=1, le=128, description="cepstral coefficients kept")
    nfft: int = Field(default=512, ge=64, le=8192)
    pre_emphasis: float = Field(default=0.97, ge=0.0, lt=1.0, description="0 = off")
    low_hz: float = Field(default=0.0, ge=0.0)
    high_hz: float | None = Field(default=None, gt=0.0, description="None = Nyquist")
    lifter: int = Field(default=22, ge=0, description="cepstral lifter L; 0 = off")
    append_energy: bool = Field(
        default=True, description="replace coefficient 0 by the log frame energy"
    )

    @model_validator(mode="after")
    def _consistent(self) -> MfccConfig:
        if self.hop_ms > self.frame_ms:
            raise ValueError(f"hop_ms {self.hop_ms} exceeds frame_ms {self.frame_ms}: "
                             "samples between frames would be skipped")
        if self.n_ceps > self.n_mels:
            raise ValueError(f"n_ceps {self.n_ceps} exceeds n_mels {self.n_mels}")
        if self.frame_length > self.nfft:
            raise ValueError(f"a {self.frame_ms} ms frame is {self.frame_length} samples, "
                             f"more than nfft {self.nfft}: the FFT would cut it")
        high = self.high_hz if self.high_hz is not None else self.sample_rate / 2
        if not self.low_hz < high <= self.sample_rate / 2:
            raise ValueError(f"need low_hz < high_hz <= {self.sample_rate / 2} (Nyquist)")
        return self

    @property
    def frame_length(self) -> int:
        """Samples per frame (rounded half up, as python_speech_features does)."""
        return _round_half_up(self.frame_ms * self.sample_rate / 1000.0)

    @property
    def hop_length(self) -> int:
        return _round_half_up(self.hop_ms * self.sample_rate / 1000.0)


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    out: np.ndarray = 2595.0 * np.log10(1.0 + hz / 700.0)
    return out


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    out: np.ndarray = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return out


def mel_filter_bank(config: MfccConfig) -> np.ndarray:
    """Triangular filters [n_mels, nfft // 2 + 1], evenly spaced on the Mel scale."""
    high = config.high_hz if config.high_hz is not None else config.sample_rate / 2
    low_mel, high_mel = _hz_to_mel(np.array([config.low_hz, high]))
    mels = np.linspace(low_mel, high_mel, config.n_mels + 2)
    edges = np.floor((config.nfft + 1) * _mel_to_hz(mels) / config.sample_rate).astype(np.int64)
    bins = np.arange(config.nfft // 2 + 1)
    bank = np.zeros((config.n_mels, len(bins)))
    for j in range(config.n_mels):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        rising = (bins >= lo) & (bins < mid)
        falling = (bins >= mid) & (bins < hi)
        bank[j, rising] = (bins[rising] - lo) / (mid - lo)
        bank[j, falling] = (hi - bins[falling]) / (hi - mid)
    return bank


def frame_signal(signal: np.ndarray, config: MfccConfig) -> np.ndarray:
    """Overlapping frames [n, frame_length]; the tail is zero-padded to a whole frame."""
    length, hop = config.frame_length, config.hop_length
    n = 1 if len(signal) <= length else 1 + int(np.ceil((len(signal) - length) / hop))
    padded = np.zeros((n - 1) * hop + length)
    padded[: len(signal)] = signal
    index = np.arange(length)[None, :] + hop * np.arange(n)[:, None]
    out: np.ndarray = padded[index]
    return out


def mfcc(signal: np.ndarray, config: MfccConfig | None = None) -> np.ndarray:
    """MFCC [frames, n_ceps] (float32) of a mono signal at ``config.sample_rate``.

    An empty signal (a video without sound) gives zero frames, [0, n_ceps]: the audio
    modality is then missing and the network masks it."""
    config = config or MfccConfig()
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"signal must be mono [samples], got shape {signal.shape}")
    if len(signal) == 0:
        return np.zeros((0, config.n_ceps), dtype=np.float32)
    emphasised = np.append(signal[0], signal[1:] - config.pre_emphasis * signal[:-1])
    frames = frame_signal(emphasised, config) * np.hamming(config.frame_length)
    power = np.abs(np.fft.rfft(frames, config.nfft)) ** 2 / config.nfft
    tiny = np.finfo(np.float64).eps  # silence: log(0) would be -inf
    mel_energy = np.maximum(power @ mel_filter_bank(config).T, tiny)
    ceps = scipy.fft.dct(np.log(mel_energy), type=2, axis=1, norm="ortho")[:, : config.n_ceps]
    if config.lifter > 0:
        n = np.arange(config.n_ceps)
        ceps *= 1.0 + (config.lifter / 2.0) * np.sin(np.pi * n / config.lifter)
    if config.append_energy:
        ceps[:, 0] = np.log(np.maximum(power.sum(axis=1), tiny))
    return ceps.astype(np.float32)
