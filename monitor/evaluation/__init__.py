"""Evaluation on simulated streams with ground truth: the scenario family's runner and
its oracle (see :mod:`monitor.evaluation.family_run`, :mod:`monitor.evaluation.oracle`)."""
