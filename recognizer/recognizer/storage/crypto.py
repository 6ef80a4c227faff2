"""AES-256-GCM encryption of embedding matrices at rest.

The key is derived from FACEFLEET_EMBEDDING_KEY with HKDF-SHA256, so any secret string of at
least 16 characters works. The username and model name are bound as associated data: a blob
copied onto another user's record, or read as another model, fails authentication instead of
silently matching.
"""

from __future__ import annotations

import os

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
DIM = 128


class DecryptionError(ValueError):
    """A stored blob does not authenticate (wrong key, tampering, or moved between users)."""


class EmbeddingCipher:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("FACEFLEET_EMBEDDING_KEY must have at least 16 characters")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"facefleet/embeddings",
                   info=b"aes-256-gcm v1").derive(secret.encode())
        self._aead = AESGCM(key)

    @staticmethod
    def _aad(username: str, model: str) -> bytes:
        return f"{username}\x00{model}".encode()

    def encrypt(self, matrix: np.ndarray, *, username: str, model: str) -> bytes:
        """Encrypt an (N, 128) matrix; returns version byte + nonce + ciphertext."""
        plain = np.ascontiguousarray(matrix, dtype="<f4").reshape(-1, DIM).tobytes()
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_V1 + nonce + self._aead.encrypt(nonce, plain, self._aad(username, model))

    def decrypt(self, blob: bytes, *, username: str, model: str) -> np.ndarray:
        if not blob or blob[:1] != FORMAT_V1:
            raise DecryptionError("unknown embedding blob format")
        nonce, body = blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, self._aad(username, model))
        except InvalidTag as exc:
            raise DecryptionError("embedding blob does not authenticate") from exc
        return np.frombuffer(plain, dtype="<f4").astype(np.float32).reshape(-1, DIM)
