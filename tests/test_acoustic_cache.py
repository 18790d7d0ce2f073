"""The built-in encoder is deterministic, finite and sensitive to what matters; the cache never recomputes."""
import numpy as np

from core.encoders.cache import EmbeddingCache, cache_key
from core.encoders import get_encoder
from core.encoders.acoustic import AcousticEncoder
from tests.helpers import cry_like, noise, tone


def test_deterministic_finite_and_batch_independent():
    enc = AcousticEncoder(batch_size=4)
    x = np.stack([tone(300 + 40 * i, 2.0) if i % 2 else noise(2.0, seed=i) for i in range(10)])
    a, b = enc.embed(x), enc.embed(x)
    assert a.shape == (10, enc.info.dim) and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert np.allclose(enc.embed(x[3:4]), a[3:4], atol=1e-5)
    assert enc.embed(np.zeros((0, 32000), np.float32)).shape == (0, enc.info.dim)
    assert np.isfinite(enc.embed(np.zeros((1, 32000), np.float32))).all()  # digital silence


def test_level_is_separated_from_spectral_shape():
    enc = get_encoder("acoustic")
    x = noise(2.0)
    loud, soft = enc.embed(np.stack([x, x * 0.01]))
    assert abs((loud[0] - soft[0]) - 40.0) < 0.5  # first feature: level in dB
    assert np.allclose(loud[1:65], soft[1:65], atol=0.05)  # level-normalised mel profile unchanged


def test_pitch_and_tonality_features_respond():
    enc = get_encoder("acoustic")
    tonal, noisy, high_cry, low_cry = enc.embed(
        np.stack([tone(400, 2.0), noise(2.0), cry_like(2.0, f0=550), cry_like(2.0, f0=300)]))
    # pitch block: voiced fraction (2nd of five) and median pitch in semitones above 100 Hz (3rd of five)
    tonal, noisy, high_cry, low_cry = (v[enc.blocks["pitch"]] for v in (tonal, noisy, high_cry, low_cry))
    assert tonal[1] > 0.9 and noisy[1] < 0.2
    assert abs(tonal[2] - 12 * np.log2(4)) < 0.5
    assert high_cry[2] > low_cry[2] + 5


def test_lung_features_see_short_wheezes_and_crackles():
    """The version-2 block: a 0.3-s wheeze and a few clicks move it, where 2-s means barely notice them."""
    enc = get_encoder("acoustic")
    base = noise(2.0, amp=0.02, seed=3)
    wheeze = base.copy()
    wheeze[12000:16800] += tone(450, 0.3, amp=0.1)
    clicks = base.copy()
    for at in (5000, 14000, 23000):
        clicks[at:at + 30] += 0.5 * np.hanning(30)
    b, w, c = (v[enc.blocks["lung"]] for v in enc.embed(np.stack([base, wheeze, clicks])))
    n_bands = enc.blocks["lung"].stop - enc.blocks["lung"].start - 14
    tonal_run, crackle_max = n_bands + 2, n_bands + 5 + 3  # longest steady tonal run; log max block-energy ratio
    assert w[tonal_run] > b[tonal_run] + 0.05
    assert c[crackle_max] > b[crackle_max] + 1.0


def test_mel_detail_sees_crackle_bumps_and_held_ridges_and_ignores_padding():
    """The version-3 block (10-ms log-mel): clicks raise the transient-bump count, a held tone the ridge length;
    zero padding at the end of a last window is not read as silence between events."""
    from core.encoders.mel_detail import MelDetail

    md = MelDetail()
    base = noise(2.0, amp=0.02, seed=4)
    wheeze = base.copy()
    wheeze[8000:14400] += tone(400, 0.4, amp=0.1)
    clicks = base.copy()
    for at in range(2000, 30000, 2600):
        clicks[at:at + 40] += 0.4 * np.hanning(40)
    F = md.features(np.stack([base, wheeze, clicks]))
    assert F.shape == (3, 102) and np.isfinite(F).all()
    ridge6_maxlen, ctbb_npk5 = 91, 86  # longest ridge (frames) above 6 dB; broadband bumps above 5 dB
    assert F[1, ridge6_maxlen] >= 30 > F[0, ridge6_maxlen]  # a 0.4-s tone holds its ridge for ~40 frames
    assert F[2, ctbb_npk5] >= 8 > F[0, ctbb_npk5]
    padded = base.copy()
    padded[20000:] = 0.0
    M = md.logmel(padded[None, :])
    assert M[..., -20:].min() > M[..., :100].min() - 3  # the tail repeats real frames, not -100 dB silence


def test_cache_key_depends_on_content_and_encoder():
    x = np.stack([tone(300, 2.0)])
    assert cache_key(x, "a:1") == cache_key(x.copy(), "a:1")
    assert cache_key(x, "a:1") != cache_key(x, "a:2")
    assert cache_key(x, "a:1") != cache_key(x * 0.5, "a:1")


class CountingEncoder:
    def __init__(self):
        self.inner = get_encoder("acoustic")
        self.info = self.inner.info
        self.calls = 0

    def embed(self, w):
        self.calls += 1
        return self.inner.embed(w)


def test_disk_cache_survives_a_new_process_and_memory_cache_is_bounded(tmp_path):
    enc = CountingEncoder()
    x = np.stack([noise(2.0, seed=i) for i in range(3)])
    c1 = EmbeddingCache(tmp_path)
    a = c1.embed(enc, x)
    c2 = EmbeddingCache(tmp_path)  # a fresh process sees the same folder
    b = c2.embed(enc, x)
    assert enc.calls == 1 and np.array_equal(a, b) and c2.hits == 1
    mem = EmbeddingCache(max_items=2)
    for i in range(4):
        mem.embed(enc, x[i % 3 : i % 3 + 1] * (i + 1))
    assert len(mem._mem) == 2
    assert not any(tmp_path.rglob("*.tmp"))
