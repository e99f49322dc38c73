"""The raw baseline for bench/journey_memory.py and bench/pipeline.py: the least a cart
journey must do (take the entry, from its start input or a signal, and sleep on a
timer), in plain Temporal."""

from datetime import timedelta

from temporalio import workflow

from sojourn.ground.events import SIGNAL, JourneyEvent
from workflows.kit.journey import JourneyStart


@workflow.defn
class RawWait:
    def __init__(self) -> None:
        self.events: list[JourneyEvent] = []

    @workflow.signal(name=SIGNAL)
    def on_event(self, event: JourneyEvent) -> None:
        self.events.append(event)

    @workflow.run
    async def run(self, start: JourneyStart) -> None:
        if start.entry is None:  # entered by signal-with-start
            await workflow.wait_condition(lambda: bool(self.events))
        await workflow.sleep(timedelta(hours=1))
