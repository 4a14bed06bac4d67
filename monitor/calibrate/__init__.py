"""``vitals calibrate``: thresholds that meet a false-alarm budget on a stationary reference.

``budget`` parses the budget, ``days`` cuts the reference into whole local days and
resamples them, ``record`` replays a resample once with detectors that record their
excursions instead of firing, ``thresholds`` splits the budget and finds each
threshold, ``delays`` says how fast those thresholds see given effects, ``configfile``
writes the config, ``holdout`` checks it on a second stationary period, and ``run``
puts them together.
"""
