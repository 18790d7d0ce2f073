"""The cry task's voice-quality block: each feature responds to the phenomenon it names, on generated voices, and the
block travels with the cry task's encoder through training and analysis."""
import numpy as np
import pytest

from core.encoders import get_encoder
from core.encoders.voice_quality import FEATURE_NAMES, N_FEATURES, WithVoiceQuality, voice_quality
from core.tasks import CRY, RESPIRATORY

SR = 16000
T = np.arange(2 * SR) / SR


def _voice(f0: float, n: int = 6, phase_mod: float = 0.0) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f0 * (1 + phase_mod * np.sin(2 * np.pi * 30 * T))) / SR
    return sum(np.sin(k * phase) / k for k in range(1, n))


def _features(*signals: np.ndarray) -> list[dict[str, float]]:
    F = voice_quality(np.stack([0.2 * s / np.max(np.abs(s) + 1e-9) for s in signals]).astype(np.float32))
    return [dict(zip(FEATURE_NAMES, row)) for row in F]


def test_each_feature_responds_to_what_it_names():
    rng = np.random.default_rng(0)
    clean = _voice(450)
    period_doubled = clean + 0.5 * sum(np.sin(2 * np.pi * 225 * (2 * i - 1) * T) / (2 * i) for i in range(1, 5))
    breathy = clean + 1.0 * rng.standard_normal(len(T))
    wobbly = _voice(450, phase_mod=0.04)
    hyper = _voice(1400, n=3)
    noise = rng.standard_normal(len(T))
    c, sub, br, wob, hy, no = _features(clean, period_doubled, breathy, wobbly, hyper, noise)
    assert c["voiced share"] == 1.0 and abs(c["f0 median (semitones re 100 Hz)"] - 12 * np.log2(4.5)) < 0.1
    assert hy["hyperphonation share"] == 1.0 and abs(hy["f0 median (semitones re 100 Hz)"] - 12 * np.log2(14)) < 0.2
    assert sub["sub-harmonic level median (dB re harmonics)"] > c["sub-harmonic level median (dB re harmonics)"] + 30
    assert sub["HNR median (dB)"] < c["HNR median (dB)"] - 10
    assert br["HNR median (dB)"] < 5 < c["HNR median (dB)"] and br["dysphonation share"] > 0.3
    assert br["CPP median (dB)"] < c["CPP median (dB)"] - 2
    assert wob["frame jitter median"] > 10 * max(c["frame jitter median"], 1e-3)
    assert br["frame shimmer median (dB)"] > c["frame shimmer median (dB)"]
    assert no["voiced share"] == 0.0 and no["dysphonation share"] == 1.0


def test_silence_and_empty_batches_give_zeros():
    assert voice_quality(np.zeros((0, 2 * SR), np.float32)).shape == (0, N_FEATURES)
    out = voice_quality(np.zeros((2, 2 * SR), np.float32))
    assert out.shape == (2, N_FEATURES) and not out.any()


def test_the_cry_task_appends_the_block_and_keeps_its_identity_apart():
    base = get_encoder("acoustic")
    cry = get_encoder("acoustic", window_features=CRY.window_features)
    assert get_encoder("acoustic", window_features=RESPIRATORY.window_features) is base
    assert isinstance(cry, WithVoiceQuality) and cry is get_encoder("acoustic", window_features=("voice_quality",))
    assert cry.info.name == base.info.name and cry.info.identity != base.info.identity  # caches and artefacts apart
    x = (0.2 * _voice(500)).astype(np.float32)[None]
    e = cry.embed(x)
    assert e.shape == (1, base.info.dim + N_FEATURES) == (1, cry.info.dim)
    assert np.array_equal(e[:, :base.info.dim], base.embed(x))
    assert "voice-quality" in cry.info.label and "not HeAR" in cry.info.label
    with pytest.raises(ValueError, match="unknown window feature"):
        get_encoder("acoustic", window_features=("shimmer_only",))


def test_shipped_cry_heads_were_trained_with_the_block():
    from core.answers.analyzer import Analyzer

    an = Analyzer("cry", "acoustic")
    assert isinstance(an.encoder, WithVoiceQuality)
    for art in an.heads.values():
        assert art.meta["encoder"]["version"] == an.encoder.info.version


def test_masked_order_statistics_equal_numpys_nan_statistics_bit_for_bit():
    """The voice-quality and pitch statistics read one sort per row instead of NumPy's row-by-row nanpercentile;
    they must be the same numbers, ties, both float widths and rows without frames (0) included."""
    import warnings

    from core.encoders.order_stats import MaskedOrder

    def numpy_stat(fn, v, mask, *args):
        empty = ~mask.any(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = fn(np.where(mask | empty[:, None], np.where(empty[:, None], 0.0, v), np.nan), *args, axis=1)
        return np.nan_to_num(out, nan=0.0)

    rng = np.random.default_rng(0)
    for trial in range(120):
        dt = (np.float32, np.float64)[trial % 2]
        T = int(rng.integers(1, 200))
        v = (rng.standard_normal((16, T)) * rng.uniform(0.01, 100)).astype(dt)
        if trial % 3 == 0:
            v = np.round(v, 1).astype(dt)  # ties
        mask = rng.random((16, T)) < rng.uniform(0.0, 1.0)
        mask[0] = False  # a row without frames
        m = MaskedOrder(v, mask)
        assert np.array_equal(numpy_stat(np.nanmedian, v, mask).astype(dt), m.median())
        for q in (10, 25, 75, 90):
            assert np.array_equal(numpy_stat(np.nanpercentile, v, mask, q).astype(dt), m.percentile(q)), (trial, q)


def test_sorted_percentile_and_median_equal_numpys_bit_for_bit():
    """The built-in encoder's percentiles and medians come from one sort instead of NumPy's partition (faster on its
    thousands of short rows); the numbers must not move: dtype, shape, ties, NaN and inf slices, every axis, one q
    (the input's dtype) or several (float64), keepdims."""
    from core.encoders.order_stats import median, percentile

    rng = np.random.default_rng(3)
    for trial in range(200):
        nd = int(rng.integers(1, 4))
        shape = tuple(int(s) for s in rng.integers(1, 9, nd))
        v = rng.normal(size=shape).astype((np.float32, np.float64)[trial % 2])
        if trial % 3 == 0:
            v = np.round(v, 1)  # ties
        if trial % 7 == 0:
            v.flat[rng.integers(v.size)] = np.nan
        if trial % 11 == 0:
            v.flat[rng.integers(v.size)] = np.inf
        axis = int(rng.integers(-nd, nd))
        with np.errstate(invalid="ignore"):
            for q in ([10, 90], 99, 99.9, [90, 99, 99.9, 100], 0, 100, 50.0):
                a, b = np.percentile(v, q, axis=axis), percentile(v, q, axis=axis)
                assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True), (trial, q)
            for keep in (False, True):
                a, b = np.median(v, axis=axis, keepdims=keep), median(v, axis=axis, keepdims=keep)
                assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True), trial
