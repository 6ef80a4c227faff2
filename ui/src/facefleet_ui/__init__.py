"""facefleet ui: the Streamlit webcam login page; talks to the recognizer only over HTTP."""
