"""Message templates, rendered in Jinja2's sandbox.

Templates and the event properties they receive come from outside the code, so they
render in a SandboxedEnvironment: a template that reaches for Python internals
(`{{ ''.__class__.__mro__ }}`) raises SecurityError instead of running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, select_autoescape
from jinja2.sandbox import SandboxedEnvironment


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
        )

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(**context)

    def email(self, template: str, context: dict[str, Any]) -> RenderedEmail:
        return RenderedEmail(
            subject=" ".join(self._render(f"email/{template}.subject.txt", context).split()),
            html=self._render(f"email/{template}.html", context),
            text=self._render(f"email/{template}.txt", context),
        )

    def push(self, template: str, context: dict[str, Any]) -> dict[str, Any]:
        """A push payload: a JSON object the service worker shows as a notification."""
        payload = json.loads(self._render(f"push/{template}.json", context))
        if not isinstance(payload, dict) or "title" not in payload:
            raise ValueError(f"push template {template!r} must render a JSON object with a title")
        return payload

    def onsite(self, template: str, context: dict[str, Any]) -> dict[str, Any]:
        """An on-site message: a JSON object with its `placement` and what to show."""
        content = json.loads(self._render(f"onsite/{template}.json", context))
        if not isinstance(content, dict) or not content.get("placement"):
            raise ValueError(f"on-site template {template!r} must render a JSON object with a placement")
        return content
