"""Message templates, rendered in Jinja2's sandbox.

Templates and the event properties they receive come from outside the code, so they
render in a SandboxedEnvironment: a template that reaches for Python internals
(`{{ ''.__class__.__mro__ }}`) raises SecurityError instead of running.

What each `{{ expression }}` prints is marked as data while rendering
(sojourn/links/tracking.py: mark_data), so that only the links the brand wrote are tracked.
The marks are gone from everything these methods return, except an email rendered
with `marked=True` for the link tracker (which removes them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, TemplateNotFound, meta, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from sojourn.links.tracking import mark_data, unmark


@dataclass
class RenderedEmail:
    subject: str
    html: str
    text: str


class Templates:
    def __init__(self, root: Path) -> None:
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(root)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=mark_data,
        )
        self._uses: dict[tuple[str, str], bool] = {}

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
