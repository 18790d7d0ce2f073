"""Stage 1, decode: whatever clinicians and browsers produce -> mono 16 kHz float32 in [-1, 1]; safe display names."""
