"""Node checks for facefleet: is a machine fit for the edge or cloud group (preflight), and does a
joined node run what it should (postflight).

Rules are pure functions over command outputs (``preflight``, ``postflight``); ``runner`` is the thin
testinfra layer that runs the commands on a host; ``plugin`` turns rules into pytest tests for
``make check-nodes``. See tests/nodes/README.md.
"""
