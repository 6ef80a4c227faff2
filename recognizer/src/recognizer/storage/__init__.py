"""Persistence: the MongoDB-wire-protocol repository and the at-rest encryption of embeddings."""

from recognizer.storage.crypto import EmbeddingCipher
from recognizer.storage.mongo import Attempt, RekeyReport, Repository, UserRecord

__all__ = ["Attempt", "EmbeddingCipher", "RekeyReport", "Repository", "UserRecord"]
