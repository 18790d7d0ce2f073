"""Evaluation: metrics with person-level confidence intervals, event-based detection scores, published references, model cards."""
