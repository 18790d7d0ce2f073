"""Build a small SavedModel with HeAR's exact serving signature: x float32[None, 32000] -> {"output_0": [n, 512]}.

It is a stand-in for the gated weights, used only by tests and benchmarks; the production loader and embedder run
on it unchanged. Its output is a fixed random projection of framed log-energies, so it is deterministic and
depends on the audio.
"""
from __future__ import annotations

import sys
from pathlib import Path


def build(path: Path) -> Path:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(1234)

    class StandIn(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((250, 512)).astype(np.float32) / 16.0, name="w")

        @tf.function(input_signature=[tf.TensorSpec([None, 32000], tf.float32, name="x")])
        def serve(self, x):
            frames = tf.reshape(x, [-1, 250, 128])
            energy = tf.math.log(tf.reduce_mean(tf.square(frames), axis=-1) + 1e-6)
            return {"output_0": tf.tanh(tf.matmul(energy, self.w))}

    m = StandIn()
    path.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve})
    return path


if __name__ == "__main__":
    build(Path(sys.argv[1]))
