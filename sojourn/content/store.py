"""Content as data: every email, push, on-site message, wheel and experiment variant a
journey names lives in the database, versioned, and the marketer changes it without a
deploy (api/routes/content.py, the dashboard's editor).

- **A piece of content** has a name, `<kind>/<name>`: `email/cart_abandonment` (its
  parts: `subject`, `html`, `text`), `push/cart_abandonment`, `onsite/registration_hero`
  (`json`, a Jinja template that renders JSON), `wheels/first_order` (`json`, plain).
  A journey names its content (`template="cart_abandonment"`); it never embeds it.
- **Versions are never changed.** Version 1 is the file in `templates/`, loaded on a
  process's first start (`ContentStore.ready`); a name already stored is left alone, so
  the files are the first version and the database is the truth after that.
- **A draft** is one per name, edited in place; publishing it makes the next version.
- **Publications** say which version is live from when: a publish, or a rollback to an
  earlier version (no new version, the old one again). A publication's id is the
  **content revision**: what was live at revision R is, per name, the last publication
  with an id no greater than R.
- **A send claims the revision live when it is first prepared** (activities/channel.py,
  in the ledger's claim) and renders at that revision on every retry, so a publish
  never changes a message already on its way. A run in flight is not pinned: each of
  its later sends claims the revision live at that moment, so it gets the new words
  from its next send on.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.ground.db import dialect, insert_for, rowcount, write_lock
from sojourn.ground.models import ContentDraft, ContentPublication, ContentVersion, aware, table, utcnow

# Each kind's parts, and the file suffix each part has in templates/ (and in Jinja's name for it).
KINDS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "html", "text"),
    "push": ("json",),
    "onsite": ("json",),
    "wheels": ("json",),
}
SUFFIX = {"subject": "subject.txt", "html": "html", "text": "txt", "json": "json"}
NAME = re.compile(r"^(email|push|onsite|wheels)/[a-z0-9_]{1,100}$")
PART_LIMIT = 100_000  # characters per part


class ContentError(ValueError):
    """Content that can't be stored: the message names the part and what is wrong."""


def kind_of(name: str) -> str:
    return name.partition("/")[0]


def is_partial(name: str) -> bool:
    """`email/_coupon`: included by other templates, never sent on its own."""
    return name.partition("/")[2].startswith("_")


def template_name(name: str, part: str) -> str:
    """Jinja's name for a part: `email/cart_abandonment.subject.txt`, as in templates/."""
    return f"{name}.{SUFFIX[part]}"


def from_files(root: Path) -> dict[str, dict[str, str]]:
    """The content in a templates directory, by name: version 1."""
    found: dict[str, dict[str, str]] = {}
    for kind, parts in KINDS.items():
        folder = root / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            for part in parts:
                suffix = "." + SUFFIX[part]
                stem = path.name[: -len(suffix)]
                if path.name.endswith(suffix) and (part != "text" or not stem.endswith(".subject")):
                    name = f"{kind}/{stem}"
                    if NAME.match(name):
                        found.setdefault(name, {})[part] = path.read_text()
    return found


def checked_parts(name: str, parts: Any, expected: set[str] | None) -> dict[str, str]:
    """Parts as stored: the kind's parts (the same ones as the live version, for a
    partial), each a text of at most PART_LIMIT characters with no NUL."""
    if not isinstance(parts, dict) or not parts:
        raise ContentError("parts: an object of the content's parts is required")
    allowed = set(KINDS[kind_of(name)])
    wanted = expected if expected is not None else allowed
    unknown = sorted(set(parts) - allowed)
    if unknown:
        raise ContentError(f"parts.{unknown[0]}: {kind_of(name)} content has no such part "
                           f"(its parts: {', '.join(KINDS[kind_of(name)])})")
    missing = sorted(wanted - set(parts))
    if missing:
        raise ContentError(f"parts.{missing[0]} is required")
    for part, source in parts.items():
        if not isinstance(source, str):
            raise ContentError(f"parts.{part} must be a text")
        if len(source) > PART_LIMIT:
            raise ContentError(f"parts.{part} is longer than {PART_LIMIT} characters")
        if "\x00" in source:
            raise ContentError(f"parts.{part} contains a NUL character")
    return {part: parts[part] for part in sorted(parts)}


@dataclass(frozen=True)
class Snapshot:
    """All content as it was at one revision."""

    revision: int
    items: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> parts
    versions: dict[str, int] = field(default_factory=dict)  # name -> version

    def sources(self) -> dict[str, str]:
        """Jinja's view: template name -> source."""
        return {template_name(name, part): source for name, parts in self.items.items()
                for part, source in parts.items()}


_NEWEST = select(func.max(ContentPublication.id))  # built once: every batch of sends asks


async def revision_in(session: AsyncSession) -> int:
    """The live revision: the newest publication's id (0 before any)."""
    return int(await session.scalar(_NEWEST) or 0)


async def snapshot_in(session: AsyncSession, revision: int) -> Snapshot:
    live: dict[str, int] = {}
    for name, version in await session.execute(
            select(ContentPublication.name, ContentPublication.version)
            .where(ContentPublication.id <= revision).order_by(ContentPublication.id)):
        live[name] = version
    items: dict[str, dict[str, str]] = {}
    if live:
        for name, parts in await session.execute(select(ContentVersion.name, ContentVersion.parts).where(
                tuple_(ContentVersion.name, ContentVersion.version).in_(list(live.items())))):
            items[name] = dict(parts)
    return Snapshot(revision, items, {name: live[name] for name in items})


class ContentStore:
    """A process's view of the content: seeded once from the files, snapshots by
    revision kept in memory (a revision never changes, so a cached one is never stale)."""

    KEEP = 16  # snapshots kept: the live one and the few that retried sends still claim

    def __init__(self, sessions: async_sessionmaker[AsyncSession], root: Path) -> None:
        self.sessions = sessions
        self.root = root
        self._seeded = False
        self._seeding = asyncio.Lock()
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()

    async def ready(self) -> None:
        """On this process's first use: store each file of templates/ whose name has no
        version yet as version 1, and publish it."""
        if self._seeded:
            return
        async with self._seeding:
            if not self._seeded:
                await seed(self.sessions, self.root)
                self._seeded = True

    async def revision(self) -> int:
        await self.ready()
        async with self.sessions() as session:
            return await revision_in(session)

    async def snapshot(self, revision: int | None = None, session: AsyncSession | None = None) -> Snapshot:
        """Everything at `revision` (the live revision if None)."""
        await self.ready()
        if session is None:
            async with self.sessions() as own:
                return await self.snapshot(revision, own)
        if revision is None:
            revision = await revision_in(session)
        found = self._snapshots.get(revision)
        if found is None:
            found = await snapshot_in(session, revision)
            self._snapshots[revision] = found
            while len(self._snapshots) > self.KEEP:
                self._snapshots.popitem(last=False)
        else:
            self._snapshots.move_to_end(revision)
        return found


async def seed(sessions: async_sessionmaker[AsyncSession], root: Path) -> list[str]:
    """Version 1 from the files, for names not stored yet; returns the names stored.
    Two processes starting together store each name once (the version's key)."""
    files = from_files(root)
    async with write_lock(sessions), sessions() as session:
        stored = set(await session.scalars(select(ContentVersion.name).distinct()))
        added = []
        for name in sorted(set(files) - stored):
            inserted = await session.execute(
                insert_for(dialect(session))(table(ContentVersion)).values(
                    name=name, version=1, parts=files[name], note="the file in templates/", created_by="files",
                    created_at=utcnow()).on_conflict_do_nothing(index_elements=["name", "version"]))
            if rowcount(inserted):
                session.add(ContentPublication(name=name, version=1, action="publish", by="files", at=utcnow()))
                added.append(name)
        await session.commit()
    return added


def _when(value: Any) -> str | None:
    return aware(value).isoformat() if value is not None else None


async def catalogue(session: AsyncSession) -> list[dict[str, Any]]:
    """Every piece of content: its live version, how many versions, and its draft."""
    live: dict[str, tuple[int, Any, str]] = {}
    for name, version, at, by in await session.execute(
            select(ContentPublication.name, ContentPublication.version, ContentPublication.at, ContentPublication.by)
            .order_by(ContentPublication.id)):
        live[name] = (version, at, by)
    counts = dict((await session.execute(
        select(ContentVersion.name, func.max(ContentVersion.version)).group_by(ContentVersion.name))).all())
    drafts = {d.name: d for d in await session.scalars(select(ContentDraft))}
    return [{"name": name, "kind": kind_of(name), "partial": is_partial(name), "live_version": live[name][0],
             "published_at": _when(live[name][1]), "published_by": live[name][2], "latest_version": counts.get(name),
             "draft": name in drafts, "draft_updated_at": _when(drafts[name].updated_at) if name in drafts else None}
            for name in sorted(live)]


async def live_version(session: AsyncSession, name: str) -> int | None:
    return await session.scalar(select(ContentPublication.version).where(ContentPublication.name == name)
                                .order_by(ContentPublication.id.desc()).limit(1))


async def version_of(session: AsyncSession, name: str, version: int) -> ContentVersion | None:
    return await session.get(ContentVersion, (name, version))


async def history(session: AsyncSession, name: str) -> dict[str, Any]:
    """Its versions, newest first, and its publications (what was live when)."""
    versions = (await session.scalars(select(ContentVersion).where(ContentVersion.name == name)
                                      .order_by(ContentVersion.version.desc()))).all()
    publications = (await session.scalars(select(ContentPublication).where(ContentPublication.name == name)
                                          .order_by(ContentPublication.id.desc()))).all()
    return {
        "versions": [{"version": v.version, "note": v.note, "created_by": v.created_by,
                      "created_at": _when(v.created_at)} for v in versions],
        "publications": [{"revision": p.id, "version": p.version, "action": p.action, "by": p.by,
                          "at": _when(p.at)} for p in publications],
    }


async def draft_of(session: AsyncSession, name: str) -> ContentDraft | None:
    return await session.get(ContentDraft, name)


async def save_draft(session: AsyncSession, name: str, parts: dict[str, str], by: str) -> ContentDraft:
    """The draft, created from the live version's number or updated in place (the
    caller commits)."""
    draft = await session.get(ContentDraft, name)
    if draft is None:
        draft = ContentDraft(name=name, parts=parts, based_on=await live_version(session, name), updated_by=by,
                             updated_at=utcnow())
        session.add(draft)
    else:
        draft.parts, draft.updated_by, draft.updated_at = parts, by, utcnow()
    return draft


async def discard_draft(session: AsyncSession, name: str) -> bool:
    draft = await session.get(ContentDraft, name)
    if draft is None:
        return False
    await session.delete(draft)
    return True


async def publish(session: AsyncSession, name: str, parts: dict[str, str], by: str, note: str | None = None) -> int:
    """A new version with these parts, live from now; the draft, if any, is spent.
    Returns the version (the caller checked the parts, and commits). Concurrent
    publishes of one name: the version's key lets one win; the other fails and is
    retried by its caller's transaction (api/routes/content.py answers 409)."""
    latest = await session.scalar(select(func.max(ContentVersion.version)).where(ContentVersion.name == name)) or 0
    version = int(latest) + 1
    session.add(ContentVersion(name=name, version=version, parts=parts, note=note, created_by=by,
                               created_at=utcnow()))
    await session.flush()
    session.add(ContentPublication(name=name, version=version, action="publish", by=by, at=utcnow()))
    await discard_draft(session, name)
    return version


async def rollback(session: AsyncSession, name: str, version: int, by: str) -> None:
    """Version `version` live again, from the next send on (the caller checked it exists)."""
    session.add(ContentPublication(name=name, version=version, action="rollback", by=by, at=utcnow()))
