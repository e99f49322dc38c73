"""The worker's cache of journeys between their steps is a setting
(SOJOURN_WORKFLOW_CACHE_SIZE), its default chosen from bench/worker_memory.py's figures."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.settings import WORKFLOW_CACHE_SIZE, Settings
from worker import build_worker


async def test_the_worker_caches_as_many_journeys_as_the_setting_says(
        env: WorkflowEnvironment, settings: Settings, sessions: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOJOURN_WORKFLOW_CACHE_SIZE", "250")
    assert Settings().workflow_cache_size == 250
    # (Two workers on one task queue are refused: each its own.)
    chosen = settings.model_copy(update={"workflow_cache_size": 250, "task_queue": settings.task_queue + "-a"})
    assert build_worker(env.client, chosen, sessions).config()["max_cached_workflows"] == 250
    assert build_worker(env.client, settings, sessions).config()["max_cached_workflows"] == WORKFLOW_CACHE_SIZE
    monkeypatch.setenv("SOJOURN_WORKFLOW_CACHE_SIZE", "-1")
    with pytest.raises(ValueError, match="workflow_cache_size"):
        Settings()
