"""What the kit's parts share with `Journey`, said once for the type checker.

`Waits`, `Decisions`, `Sends`, `Coupons`, `Intelligence` and `Audiences` are mixed into
`Journey` (workflows/kit/journey.py) and use its state, its input and a few of its
helpers. This base names them for the type checker only: at run time `Kit` is plain
`object`, so a journey class, its MRO and what `typing.get_type_hints` finds on it are
exactly what they were."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from sojourn.ground.contracts import Profile
    from sojourn.ground.spec import JourneySpec
    from workflows.kit.state import JourneyStart, JourneyState

    class Kit:
        spec: ClassVar[JourneySpec]
        start: JourneyStart  # the run's input
        s: JourneyState  # what the run carries over at continue-as-new
        step: str  # what operators see: the step and the next wake-up
        next_wake_up: datetime | None
        _profile: Profile | None

        @property
        def entered_at(self) -> datetime | None: ...

        def changed(self, change: str) -> bool: ...

        def _key(self, kind: str) -> str: ...

        def _note(self, what: str) -> None: ...

        def _show(self) -> None: ...

        def scaled(self, duration: timedelta) -> timedelta: ...

        def _toward(self, target: datetime) -> datetime: ...

        async def _wait(self, done: Callable[[], bool], *, until: datetime, step: str, key: str | None = None,
                        extra: dict[str, Any] | None = None) -> bool: ...

        async def timezone(self) -> ZoneInfo: ...

        async def experiment(self, name: str, weights: dict[str, float], *, holdout: float = 0.0) -> str: ...
else:
    Kit = object
