"""The one runner of every pipeline (index a video, search by video, search by text,
recommend): a pipeline is a list of stage objects over a context the stages fill in.

The runner, not the stages, owns what every stage needs alike: stop a late or cancelled
request before the stage starts, hold a slot of the stage's limit (``resource``), time
it into ``SearchResult.stage_seconds`` and the ``vidsearch_stage_seconds`` histogram,
and count early stops. No stage knows about gRPC.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Protocol, TypeVar

from vidsearch import metrics
from vidsearch.deadline import RequestBudget, RequestStoppedError
from vidsearch.orchestrator.admission import StageLimiters


class PipelineContext(Protocol):
    """What the runner reads of a context: the request's deadline and cancellation."""

    @property
    def budget(self) -> RequestBudget: ...


C = TypeVar("C", bound=PipelineContext, contravariant=True)
Ctx = TypeVar("Ctx", bound=PipelineContext)


class Stage(Protocol[C]):
    """One step of a pipeline; ``name`` is its metric label."""

    @property
    def name(self) -> str: ...

    @property
    def resource(self) -> str | None:
        """The stage limit it holds while running: decode, encode, catalog (None: none)."""
        ...

    def __call__(self, ctx: C) -> None: ...


class PipelineRunner:
    """Runs stage lists under one orchestrator's stage limits."""

    def __init__(self, limits: StageLimiters) -> None:
        self.limits = limits

    def run(self, pipeline: str, stages: Sequence[Stage[Ctx]], ctx: Ctx) -> dict[str, float]:
        """Run ``stages`` in order on ``ctx``; the seconds each took, by stage name."""
        timings: dict[str, float] = {}
        for stage in stages:
            self._run_stage(pipeline, stage, ctx, timings)
        return timings

    def _run_stage(
        self, pipeline: str, stage: Stage[Ctx], ctx: Ctx, timings: dict[str, float]
    ) -> None:
        limiter = self.limits.get(stage.resource)
        budget = ctx.budget
        try:
            budget.check(f"the {stage.name} stage")
            with limiter.slot(budget) if limiter is not None else nullcontext():
                start = time.perf_counter()
                try:
                    stage(ctx)
                finally:
                    elapsed = time.perf_counter() - start
                    timings[stage.name] = timings.get(stage.name, 0.0) + elapsed
                    metrics.STAGE_SECONDS.labels(pipeline=pipeline, stage=stage.name).observe(
                        elapsed
                    )
        except RequestStoppedError as exc:
            metrics.REQUESTS_STOPPED.labels(stage=stage.name, reason=exc.reason).inc()
            raise
