"""How the recognizer's threshold and detector were chosen, reproducibly, on LFW View 1.

- `python -m recognizer.calibration.calibrate` (`make calibrate`): the threshold in faces/metric.py.
- `python -m recognizer.calibration.detector_choice` (`make detector-choice`): the detector.
- `lfw` (pairs, cached embeddings) and `verification` (rates, intervals, TAR at FAR) are reused
  by the benchmarks (bench/accuracy.py, bench/identify.py) and tests/reliability/test_impostors.py.

Not part of the serving path: nothing under recognizer/ outside this package imports it. The data
(../shared/data/faces/lfw) and the results (bench/results/) live beside the repository checkout.
"""
