"""The journey kit: everything a journey file needs, from one place.

    from workflows.kit import Goal, Journey, journey

`journey` runs the story (the run, its signal, exits and goal, the operator's view);
`waits`, `decisions` and `sends` hold what a story calls; `coupons`, `audiences` and
`intelligence` are the capabilities' kit calls; `options` the activities' timeouts and
retries; `experiments` the variant draw. Deterministic code only: the kit imports no I/O
library and nothing but the ground's pure contracts."""

from workflows.kit.journey import *  # noqa: F403 - what a journey file needs, from one place
from workflows.kit.journey import __all__ as __all__
