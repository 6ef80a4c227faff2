"""AES-256-GCM encryption of embedding matrices at rest.

The key is derived from FACEFLEET_EMBEDDING_KEY with HKDF-SHA256, so any secret string of at
least 16 characters works. The username and model name are bound as associated data: a blob
copied onto another user's record, or read as another model, fails authentication instead of
silently matching.

Key rotation: blobs are decrypted with the current key or, failing that, with the previous one
(FACEFLEET_EMBEDDING_KEY_PREVIOUS); every write encrypts with the current key, and
`python -m recognizer rekey` re-encrypts what is left, after which the previous key can go.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recognizer.defaults import MIN_SECRET_CHARS

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
DIM = 128


class DecryptionError(ValueError):
    """A stored blob does not authenticate (wrong key, tampering, or moved between users)."""


def _aead(secret: str) -> AESGCM:
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"FACEFLEET_EMBEDDING_KEY must have at least {MIN_SECRET_CHARS} characters")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"facefleet/embeddings", info=b"aes-256-gcm v1").derive(
        secret.encode()
    )
    return AESGCM(key)


class EmbeddingCipher:
    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        self._aead = _aead(secret)
        self._previous = [_aead(p) for p in previous]

    @staticmethod
    def _aad(username: str, model: str) -> bytes:
        return f"{username}\x00{model}".encode()

    def encrypt(self, matrix: np.ndarray, *, username: str, model: str) -> bytes:
        """Encrypt an (N, 128) matrix with the current key; returns version byte + nonce + ciphertext."""
        plain = np.ascontiguousarray(matrix, dtype="<f4").reshape(-1, DIM).tobytes()
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_V1 + nonce + self._aead.encrypt(nonce, plain, self._aad(username, model))

    def decrypt(self, blob: bytes, *, username: str, model: str) -> np.ndarray:
        return self.decrypt_and_check(blob, username=username, model=model)[0]

    def decrypt_and_check(self, blob: bytes, *, username: str, model: str) -> tuple[np.ndarray, bool]:
        """(matrix, True when the current key encrypted it; False: a previous key did, re-encrypt it)."""
        if not blob or blob[:1] != FORMAT_V1:
            raise DecryptionError("unknown embedding blob format")
        nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        aad = self._aad(username, model)
        for n, aead in enumerate([self._aead, *self._previous]):
            try:
                plain = aead.decrypt(nonce, body, aad)
            except InvalidTag:
                continue
            return np.frombuffer(plain, dtype="<f4").astype(np.float32).reshape(-1, DIM), n == 0
        raise DecryptionError("embedding blob does not authenticate")
