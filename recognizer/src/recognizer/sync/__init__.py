"""Fleet-wide users: the home serves its numbered changes, every replica pulls and applies them.

- wire.py: the bodies of the sync routes, shared by the home's routes and the replica's client;
- home.py: what the home answers (credentials, pages of changes, snapshot pages);
- client.py: a replica's HTTP client of the home;
- replicator.py: a replica's pull loop, its status (lag, offline, stale) and metrics;
- forward.py: a replica passing user writes on to the home.
The home's HTTP routes are in api/sync_routes.py.
The contract is recognizer/README.md, "Fleet-wide users: the home and its replicas".
"""
