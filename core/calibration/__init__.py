"""Local recalibration profiles: the shipped model kept, its answers' calibration and thresholds refitted on a
clinic's own labelled recordings (stage after the heads, before the answers)."""
