"""Values more than one layer needs, each defined once.

The contract (../shared/DESIGN.md) fixes some of them (the username rule, the 16-character
secret minimum, the 48 px face and 10 MB image defaults, the 3 s database bound); the settings
(config.py) take their defaults from here, and so do the face pipeline, the storage layer and
the HTTP layer when they are used on their own (tests, benchmarks, calibration).
"""

from __future__ import annotations

#: usernames, everywhere: form fields, paths, the domain's own check.
USERNAME_PATTERN = r"[a-z0-9_.-]{3,64}"
USERNAME_RULE = "A username is 3 to 64 characters from a-z, 0-9, '_', '.' and '-'."

#: the API key, the token secret and the embedding key (current and previous).
MIN_SECRET_CHARS = 16

#: the face pipeline's defaults (FACEFLEET_DETECTOR, FACEFLEET_MIN_FACE_PX, FACEFLEET_MAX_*).
DETECTORS = ("hog", "cnn", "haar")
DETECTOR = "hog"
MIN_FACE_PX = 48
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 25_000_000
#: the forward-pass engines (FACEFLEET_ENGINE; faces/engine.py): both give dlib's descriptors.
ENGINES = ("onnx", "dlib")
ENGINE = "onnx"
#: longest side of the downscaled copy detection runs on first (chosen by measurement: README).
DETECT_SIZE = 640

#: multipart overhead allowed on top of the images of one request (form fields, boundaries).
FORM_SLACK_BYTES = 64 * 1024

#: database timeouts: short enough that an outage answers 503 within about 3 s.
DB_TIMEOUT_MS = 2500
MAX_DB_TIMEOUT_MS = 3000

AUDIT_RETENTION_S = 30 * 24 * 3600

#: GET /v1/me/attempts: entries returned by default, and at most.
ATTEMPTS_LIMIT = 50
MAX_ATTEMPTS_LIMIT = 500
INDEX_REFRESH_S = 2.0
INDEX_FULL_RELOAD_S = 600.0

#: fleet-wide users (sync/): a site name is a DNS label; the home's pages of changes and users.
SITE_PATTERN = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
SYNC_PAGE = 500
MAX_SYNC_PAGE = 1000
SYNC_INTERVAL_S = 2.0
SYNC_COPY_BEYOND = 1000
#: 24 h: a replica cut off from its home keeps letting its people in for a day (README, "Staleness bound").
REPLICA_MAX_STALENESS_S = 24 * 3600
SYNC_RETENTION_S = 30 * 24 * 3600
