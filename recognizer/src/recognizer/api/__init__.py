"""HTTP layer: FastAPI app, contract error bodies, metrics and JSON logs."""

from recognizer.api.app import create_app

__all__ = ["create_app"]
