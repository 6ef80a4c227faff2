"""What the home answers its replicas: authenticated pages of changes and of every user."""

from __future__ import annotations

import re
from collections.abc import Iterator

from recognizer.defaults import SITE_PATTERN
from recognizer.errors import ErrorCode, FacefleetError
from recognizer.storage import Repository
from recognizer.storage.changelog import CursorExpired
from recognizer.storage.mongo import unavailable_on_db_error
from recognizer.sync.wire import (
    ChangeOut,
    ChangesPage,
    SiteCredential,
    SiteList,
    SiteOut,
    SnapshotEnd,
    SnapshotStart,
    UserState,
)

SITE_RE = re.compile(SITE_PATTERN)


def check_site(site: str) -> str:
    if not SITE_RE.fullmatch(site):
        raise FacefleetError(
            ErrorCode.MISSING_FIELD,
            "A site name is a DNS label: 1 to 63 characters from a-z, 0-9 and '-', not starting or ending with '-'.",
        )
    return site


class SyncSource:
    """The home's side of the protocol, over its repository's change log and site register."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    # -- the operator's register of sites (API key) -----------------------------------------
    @unavailable_on_db_error
    def issue(self, site: str) -> SiteCredential:
        return SiteCredential(site=check_site(site), credential=self.repo.sites.issue(site))

    @unavailable_on_db_error
    def revoke(self, site: str) -> None:
        if not self.repo.sites.revoke(check_site(site)):
            raise FacefleetError(ErrorCode.NOT_FOUND, f"No site named {site!r}.")

    @unavailable_on_db_error
    def sites(self) -> SiteList:
        return SiteList(sites=[SiteOut(**vars(s)) for s in self.repo.sites.list()])

    # -- what a replica reads (site credential) ----------------------------------------------
    @unavailable_on_db_error
    def authenticate(self, credential: str | None) -> str:
        site = self.repo.sites.authenticate(credential) if credential else None
        if site is None:
            raise FacefleetError(ErrorCode.UNAUTHORIZED, "A valid, unrevoked site credential is required.")
        return site

    @unavailable_on_db_error
    def changes(self, site: str, after: int, limit: int) -> ChangesPage:
        try:
            page = self.repo.changelog.read(after, limit)
        except CursorExpired:
            raise FacefleetError(
                ErrorCode.CURSOR_EXPIRED,
                f"The changes after {after} are no longer kept here; make a full copy (GET /v1/sync/snapshot).",
            ) from None
        states = self.repo.changelog.states(c.username for c in page.changes)
        out = []
        for c in page.changes:
            doc = states.get(c.username)
            out.append(ChangeOut(seq=c.seq, username=c.username, user=None if doc is None else UserState.from_doc(doc)))
        self.repo.sites.seen(site, page.next)
        return ChangesPage(changes=out, next=page.next, head=page.head)

    @unavailable_on_db_error
    def snapshot(self) -> Iterator[bytes]:
        """Every user as NDJSON lines between a start line (the head) and an end line (the count).

        The head is read first: a change numbered after it may or may not be in the copy, and the
        replica applies it from the feed either way; one numbered before it is in the copy, because
        a change is stored before it is numbered (storage/changelog.py)."""
        yield SnapshotStart(head=self.repo.changelog.head()).model_dump_json().encode() + b"\n"
        n = 0
        for doc in self.repo.changelog.every_user():
            yield UserState.from_doc(doc).model_dump_json().encode() + b"\n"
            n += 1
        yield SnapshotEnd(users=n).model_dump_json().encode() + b"\n"
