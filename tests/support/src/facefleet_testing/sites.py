"""Two sites on real parts: a home (database + recognizer) and a replica syncing from it.

    with FleetSites.start(tmp_path) as fleet:      # two FerretDB servers, two recognizers
        fleet.home.client().post(...)              # enrol at the home
        fleet.wait_synced()                        # the replica has applied every home change
        fleet.assert_consistent()                  # its users equal the home's, nothing resurrected

The replica gets the home's embedding key (one fleet-wide key), its own API key and token secret
(tokens stay per site), and a credential the home issued for it through PUT /v1/sync/sites/{site}.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from facefleet_testing.stack import DatabaseServer, RecognizerServer, fresh_secrets

SITE = "edge-1"
#: the fields a replica must hold exactly as the home does (the encrypted blob included).
COMPARED = ("uid", "username", "model", "consent", "faces", "seq", "embeddings")


def issue_credential(home: RecognizerServer, site: str = SITE) -> str:
    r = httpx.put(f"{home.url}/v1/sync/sites/{site}", headers=home.headers, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["credential"])


def users_of(db: DatabaseServer, db_name: str) -> dict[str, dict[str, Any]]:
    """Every user document of a site's database, by username, with the compared fields."""
    with db.client() as c:
        return {
            str(d["_id"]): {k: (bytes(d[k]) if k == "embeddings" else d.get(k)) for k in COMPARED}
            for d in c[db_name]["users"].find({})
        }


@dataclass
class FleetSites:
    home_db: DatabaseServer
    home: RecognizerServer
    edge_db: DatabaseServer
    edge: RecognizerServer
    credential: str
    site: str = SITE
    deleted: set[str] = field(default_factory=set)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        home_env: dict[str, str] | None = None,
        edge_env: dict[str, str] | None = None,
        site: str = SITE,
    ) -> FleetSites:
        home_db = DatabaseServer.start_new(workdir / "home-db")
        home = RecognizerServer.start_new(
            home_db.url,
            workdir / "home",
            {"FACEFLEET_SITE": "home", "FACEFLEET_MODEL_PROCESSES": "0", **(home_env or {})},
        )
        credential = issue_credential(home, site)
        edge_db = DatabaseServer.start_new(workdir / "edge-db")
        env = {
            **fresh_secrets(),
            "FACEFLEET_EMBEDDING_KEY": home.env["FACEFLEET_EMBEDDING_KEY"],
            "FACEFLEET_SITE": site,
            "FACEFLEET_HOME_URL": home.url,
            "FACEFLEET_SYNC_CREDENTIAL": credential,
            "FACEFLEET_SYNC_INTERVAL_S": "0.5",
            "FACEFLEET_MODEL_PROCESSES": "0",
            **(edge_env or {}),
        }
        edge = RecognizerServer.start_new(edge_db.url, workdir / "edge", env)
        return cls(home_db=home_db, home=home, edge_db=edge_db, edge=edge, credential=credential, site=site)

    def stop(self) -> None:
        for server in (self.edge, self.edge_db, self.home, self.home_db):
            server.stop()

    def __enter__(self) -> FleetSites:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding the home -------------------------------------------------------------------
    def home_repository(self):  # -> recognizer.storage.Repository
        """The home's storage layer, with the home's embedding key (and a timeout fit for bulk writes)."""
        from recognizer.storage import EmbeddingCipher, Repository

        key = EmbeddingCipher(self.home.env["FACEFLEET_EMBEDDING_KEY"])
        return Repository(self.home_db.url, self.home.db_name, key, timeout_ms=300_000)

    def seed_home(self, n: int, prefix: str, seed: int, batch: int = 1000) -> tuple[int, int]:
        """n synthetic users (unit-length random embeddings) imported at the home through the storage
        layer, as the identify benchmark seeds them; (users imported, the home's head after them)."""
        import numpy as np

        from recognizer.faces import metric

        matrix = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        repo = self.home_repository()
        try:
            imported = 0
            for start in range(0, n, batch):
                users = [(f"{prefix}-{i:05d}", matrix[i : i + 1]) for i in range(start, min(n, start + batch))]
                imported += repo.import_users(users, model=metric.MODEL_NAME, consent=True)
            repo.bump_version()
            return imported, repo.changelog.head()
        finally:
            repo.close()

    # -- observing ----------------------------------------------------------------------------
    def site_status(self) -> dict[str, Any]:
        r = httpx.get(self.edge.url + "/v1/site", timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def home_users(self) -> dict[str, dict[str, Any]]:
        return users_of(self.home_db, self.home.db_name)

    def edge_users(self) -> dict[str, dict[str, Any]]:
        return users_of(self.edge_db, self.edge.db_name)

    def edge_count(self, collection: str = "users") -> int:
        with self.edge_db.client() as c:
            return int(c[self.edge.db_name][collection].count_documents({}))

    def wait_synced(self, timeout_s: float = 20.0) -> None:
        """Until the replica holds exactly the home's users (the feed is eventually consistent)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.edge_users() == self.home_users():
                return
            time.sleep(0.2)
        self.assert_consistent()

    def assert_consistent(self) -> None:
        """The consistency check: the same users with the same faces, nothing lost, nothing resurrected."""
        home, edge = self.home_users(), self.edge_users()
        missing, extra = sorted(home.keys() - edge.keys()), sorted(edge.keys() - home.keys())
        differ = sorted(u for u in home.keys() & edge.keys() if home[u] != edge[u])
        assert not (missing or extra or differ), f"replica differs: missing {missing}, extra {extra}, differ {differ}"
        resurrected = sorted(self.deleted & edge.keys() - home.keys())
        assert not resurrected, f"deleted users came back at the replica: {resurrected}"
