"""Message templates, rendered in Jinja2's sandbox.

Templates and the event properties they receive come from outside the code, so they
render in a SandboxedEnvironment: a template that reaches for Python internals
(`{{ ''.__class__.__mro__ }}`) raises SecurityError instead of running.

What each `{{ expression }}` prints is marked as data while rendering
(sojourn/links/tracking.py: mark_data), so that only the links the brand wrote are tracked.
The marks are gone from everything these methods return, except an email rendered
with `marked=True` for the link tracker (which removes them).

The worker renders the marketer's published content (sojourn/content/store.py):
`ContentTemplates` hands out a `Templates` per content revision, and each send renders
at the revision it claimed. `Templates(root)` renders a directory's files as they are
(tests, and the first version of every piece of content).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, FileSystemLoader, FunctionLoader, TemplateNotFound, meta, select_autoescape
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.content.store import ContentStore, Snapshot, revision_in
from sojourn.links.tracking import mark_data, unmark


@dataclass
class RenderedEmail:
    subject: str
    html: str
    text: str


class Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, and no arithmetic that eats the worker: a marketer's
    `{{ "x" * 10**9 }}` or `{{ 9 ** 9 ** 9 }}` is refused (SecurityError) instead of
    taking a gigabyte or a CPU for minutes, and `lipsum` is gone. (`range` is capped by
    the sandbox itself; loops nested deep are not: a known limit, in the README.)"""

    intercepted_binops = frozenset({"*", "**"})
    LONGEST = 100_000  # a repeated text or list, in items

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(left, (int, float)) and isinstance(right, (int, float)) and (
                    abs(right) > 64 or abs(left) > 10**6):
                raise SecurityError(f"{left!r} ** {right!r} is too large for a template")
        elif operator == "*":
            sized, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(times, int) and isinstance(sized, (str, list, tuple)) and len(sized) * times > self.LONGEST:
                raise SecurityError(f"a text or list repeated past {self.LONGEST} items")
        return super().call_binop(context, operator, left, right)


def sandbox(loader: BaseLoader) -> SandboxedEnvironment:
    env = Sandbox(
        loader=loader,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=mark_data,
    )
    # `lipsum(10**6)` writes a million paragraphs: no template of a shop needs it.
    env.globals.pop("lipsum", None)
    return env


def named(sources: dict[str, str]) -> FunctionLoader:
    """Sources by name, each compiled with its name as its file name, so an error's
    traceback says which template and line (activities/previews.py reports them)."""

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        return (sources[name], name, lambda: True) if name in sources else None

    return FunctionLoader(load)


class Templates:
    """Renders one set of sources: a directory's files, or the content at one revision."""

    def __init__(self, root: Path | None = None, *, snapshot: Snapshot | None = None) -> None:
        self.snapshot = snapshot
        self.env = sandbox(named(snapshot.sources()) if snapshot is not None else FileSystemLoader(str(root)))
        self._uses: dict[tuple[str, str], bool] = {}

    @property
    def revision(self) -> int | None:
        return self.snapshot.revision if self.snapshot is not None else None

    def version(self, name: str) -> int | None:
        """The version of `name` (`email/cart_abandonment`) these sources hold."""
        return self.snapshot.versions.get(name) if self.snapshot is not None else None

    async def ready(self) -> None:
        """(Files are always ready; see ContentTemplates.)"""

    async def live_revision(self, session: AsyncSession) -> int | None:
        return None

    async def at(self, revision: int | None, session: AsyncSession | None = None) -> Templates:
        return self

    def uses(self, name: str, variable: str) -> bool:
        """Does the template read `variable` (e.g. `recommendations`, which costs queries
        to fill)? Asked of its source, once per template."""
        key = (name, variable)
        if key not in self._uses:
            self._uses[key] = False  # an include that includes itself ends here
            try:
                source = self.env.loader.get_source(self.env, name)[0]  # type: ignore[union-attr]
            except TemplateNotFound:
                return False
            parsed = self.env.parse(source)
            self._uses[key] = variable in meta.find_undeclared_variables(parsed) or any(
                self.uses(included, variable) for included in meta.find_referenced_templates(parsed)
                if included is not None)  # the partials it includes (email/_coupon.html) read it too
        return self._uses[key]

    def email_uses(self, template: str, variable: str) -> bool:
        return any(self.uses(f"email/{template}.{part}", variable) for part in ("subject.txt", "html", "txt"))

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(**context)

    def email(self, template: str, context: dict[str, Any], *, marked: bool = False) -> RenderedEmail:
        keep = (lambda text: text) if marked else unmark
        return RenderedEmail(
            subject=" ".join(unmark(self._render(f"email/{template}.subject.txt", context)).split()),
            html=keep(self._render(f"email/{template}.html", context)),
            text=keep(self._render(f"email/{template}.txt", context)),
        )

    def push(self, template: str, context: dict[str, Any]) -> dict[str, Any]:
        """A push payload: a JSON object the service worker shows as a notification."""
        payload = json.loads(unmark(self._render(f"push/{template}.json", context)))
        if not isinstance(payload, dict) or "title" not in payload:
            raise ValueError(f"push template {template!r} must render a JSON object with a title")
        return payload

    def onsite(self, template: str, context: dict[str, Any]) -> dict[str, Any]:
        """An on-site message: a JSON object with its `placement` and what to show."""
        content = json.loads(unmark(self._render(f"onsite/{template}.json", context)))
        if not isinstance(content, dict) or not content.get("placement"):
            raise ValueError(f"on-site template {template!r} must render a JSON object with a placement")
        return content


class ContentTemplates:
    """The worker's templates: the content store's, one `Templates` per revision."""

    KEEP = 16

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        self._at: dict[int, Templates] = {}

    async def ready(self) -> None:
        await self.store.ready()

    async def live_revision(self, session: AsyncSession) -> int | None:
        return await revision_in(session)

    async def at(self, revision: int | None, session: AsyncSession | None = None) -> Templates:
        """The content at `revision` (the live one if None), compiled once per revision."""
        snapshot = await self.store.snapshot(revision, session)
        found = self._at.get(snapshot.revision)
        if found is None or found.snapshot is not snapshot:
            found = self._at[snapshot.revision] = Templates(snapshot=snapshot)
            while len(self._at) > self.KEEP:
                self._at.pop(next(iter(self._at)))
        return found
