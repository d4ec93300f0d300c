"""Evaluation on tau2-bench: run grids, reports, paired comparisons (statistics in eval.stats)."""
