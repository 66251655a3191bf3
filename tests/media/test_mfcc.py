"""Our MFCC against python_speech_features (the golden reference) on real signals."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from vidsearch.media.audio import decode_audio
from vidsearch.media.mfcc import MfccConfig, mel_filter_bank, mfcc
from vidsearch.media.synthetic_audio import generate_video_with_sound

psf = pytest.importorskip("python_speech_features", reason="dev extra: python-speech-features")
SR = 16_000


def _chirp_and_noise(seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    chirp = 0.4 * np.sin(2 * np.pi * (200 * t + 600 * t**2))  # 200 Hz -> 3.8 kHz
    return chirp + 0.05 * np.random.default_rng(0).standard_normal(len(t))


@pytest.fixture(scope="module")
def video_sound(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path = generate_video_with_sound(tmp_path_factory.mktemp("mfcc") / "v.mp4", 21, 6.0,
                                     width=64, height=48)
    return decode_audio(path)


def _reference(signal: np.ndarray, config: MfccConfig) -> np.ndarray:
    out: np.ndarray = psf.mfcc(
        signal, samplerate=config.sample_rate, winlen=config.frame_ms / 1000,
        winstep=config.hop_ms / 1000, numcep=config.n_ceps, nfilt=config.n_mels,
        nfft=config.nfft, preemph=config.pre_emphasis, ceplifter=config.lifter,
        appendEnergy=config.append_energy, winfunc=np.hamming,
    )
    return out


@pytest.mark.parametrize(
    "config",
    [
        MfccConfig(),  # 25 ms / 10 ms, 26 filters, 13 coefficients, lifter 22, energy
        MfccConfig(frame_ms=30, hop_ms=15, n_mels=40, n_ceps=20, nfft=1024),
        MfccConfig(frame_ms=10, hop_ms=5, lifter=0, append_energy=False, pre_emphasis=0.0),
    ],
    ids=["default", "30ms-40mels", "10ms-plain"],
)
def test_matches_python_speech_features_on_chirp_and_video_sound(
    config: MfccConfig, video_sound: np.ndarray
) -> None:
    for signal in (_chirp_and_noise(), video_sound.astype(np.float64)):
        ours, ref = mfcc(signal, config), _reference(signal, config)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)


def test_default_frames_are_25ms_every_10ms() -> None:
    config = MfccConfig()
    assert (config.frame_length, config.hop_length) == (400, 160)
    assert mfcc(np.zeros(SR + 400 - 160), config).shape == (SR // 160, 13)  # 1 s -> 100 frames


def test_filter_bank_is_triangles_rising_then_falling() -> None:
    bank = mel_filter_bank(MfccConfig())
    assert bank.shape == (26, 257) and bank.min() >= 0 and bank.max() <= 1
    peaks = bank.argmax(axis=1)
    assert np.all(np.diff(peaks) > 0)  # centres in increasing frequency


def test_no_sound_gives_no_frames_and_silence_stays_finite() -> None:
    assert mfcc(np.zeros(0, np.float32)).shape == (0, 13)
    assert np.isfinite(mfcc(np.zeros(SR))).all()


@pytest.mark.parametrize(
    "bad",
    [{"frame_ms": 8}, {"frame_ms": 35}, {"hop_ms": 30, "frame_ms": 25}, {"n_ceps": 30},
     {"nfft": 256}, {"high_hz": 9000}, {"pre_emphasis": 1.0}, {"unknown": 1}],
)
def test_config_rejects_what_the_seed_or_the_maths_rule_out(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        MfccConfig(**bad)  # type: ignore[arg-type]


def test_rejects_stereo() -> None:
    with pytest.raises(ValueError, match="mono"):
        mfcc(np.zeros((2, 100)))


def test_video_sound_is_real_sound(video_sound: np.ndarray) -> None:
    assert len(video_sound) >= 6 * SR and np.abs(video_sound).max() > 0.05
