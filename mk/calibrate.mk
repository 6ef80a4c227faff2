# Face pipeline calibration on LFW View 1 (../shared/data/faces/lfw, or $FACEFLEET_LFW): NOT part of
# `make test`. Embeddings are cached under .cache/lfw/, so a re-run only scores. Runs niced, at most
# 2 processes (the machine is shared). Code: recognizer/src/recognizer/calibration/ (recognizer.calibration).
# Results: bench/results/*.json and recognizer/README.md.
LFW_PROCESSES ?= 2

.PHONY: calibrate detector-choice
calibrate: venv weights ## choose the threshold on LFW pairsDevTrain, report on pairsDevTest (+100k held-out impostors)
	nice -n 10 $(PY) -m recognizer.calibration.calibrate --processes $(LFW_PROCESSES) $(CALIBRATE_ARGS)

detector-choice: venv weights ## measure detectors (LFW sample accuracy, webcam-frame detection rate, latency)
	nice -n 10 $(PY) -m recognizer.calibration.detector_choice $(DETECTOR_CHOICE_ARGS)
