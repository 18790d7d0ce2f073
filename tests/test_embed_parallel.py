"""Dataset embedding in worker processes gives the same windows and embeddings, bit for bit, in the same order."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.datasets import read_folder
from core.data.embed import embed_units
from core.encoders import get_encoder
from core.encoders.cache import EmbeddingCache
from tests.helpers import cry_like, noise, write


@pytest.mark.parametrize("features", [(), ("voice_quality",)])
def test_two_workers_embed_exactly_what_one_process_does(tmp_path, features):
    for i in range(3):
        write(tmp_path / "a" / f"P{i}_x.wav", noise(3.0 + i, amp=0.02, seed=i))
        write(tmp_path / "b" / f"P{i}_y.wav", cry_like(2.5 + i, f0=430 + 20 * i, seed=i))
    (tmp_path / "b" / "P9_broken.wav").write_bytes(b"RIFF" + bytes(40))
    units = read_folder(tmp_path, r"^(P\d+)_").units
    enc = get_encoder("acoustic", window_features=features)
    one = embed_units(units, enc, EmbeddingCache())
    two = embed_units(units, enc, EmbeddingCache(), jobs=2)
    assert [u.uid for u in two.units] == [u.uid for u in one.units] and len(one.units) == 6
    for name in ("X", "unit_of", "usable", "start_s", "rms_dbfs", "clip_ratio", "duration_s"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.skipped == two.skipped and len(one.skipped) == 1  # the broken file, reported once, in either mode
