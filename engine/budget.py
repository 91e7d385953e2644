"""Fit a training run to a wall-clock budget: the number of optimizer steps follows the measured speed.

A run given ``train.time_budget_min`` does not fix its length in steps. It measures its own speed
(steps per second since it settled, validation and checkpoint pauses included) and, every few
steps, sets the schedule's last step to where that speed reaches the end of the budget. So the
learning rate still warms up and decays to its floor, the last step lands just inside the budget,
and the same command fills an hour on a fast machine and on a slow one. The estimate keeps back the
longest end-of-step pause seen (validation and checkpoint), which the last step also pays.

Time is counted from the start of the run and carried across resumes (the checkpoint holds the
seconds spent up to it), so an interrupted run resumed with the same budget ends within the same
total; only the time between its last checkpoint and the interruption goes uncounted.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TimeBudget:
    """The step a run should end at to finish within ``seconds`` of wall time.

    ``started``: the run's time zero on ``clock`` (now, unless earlier invocations of the run spent
    time before it: then that much earlier). ``rate``: the speed an earlier invocation measured (steps
    per second, from the checkpoint), used until this one has measured its own. ``settle``: steps of
    this invocation not timed (DataLoader start-up, first-iteration costs). ``clock``: monotonic
    seconds (tests pass their own).
    """

    def __init__(
        self,
        seconds: float,
        started: float | None = None,
        rate: float | None = None,
        settle: int = 10,
        clock: Callable[[], float] = time.perf_counter,
    ):
        if seconds <= 0:
            raise ValueError(f"a time budget must be positive, got {seconds} s")
        self.seconds = seconds
        self.settle = settle
        self.clock = clock
        self.started = clock() if started is None else started
        self.rate_hint = rate
        self.mark: tuple[int, float] | None = None  # (step, time) once settled
        self.first_step: int | None = None
        self.reserve = 0.0  # the longest end-of-step pause (validation, checkpoint) seen

    def spent(self) -> float:
        """Seconds of this run so far, earlier invocations included."""
        return self.clock() - self.started

    def left(self) -> float:
        return self.seconds - self.spent()

    def observe(self, step: int) -> None:
        """Call after every optimizer step: starts the speed measurement once the run has settled."""
        if self.first_step is None:
            self.first_step = step - 1
        if self.mark is None and step - self.first_step >= self.settle:
            self.mark = (step, self.clock())

    def pause(self, seconds: float) -> None:
        """An end-of-step pause (validation, a checkpoint): the last step will pay one like it."""
        self.reserve = max(self.reserve, seconds)

    def steps_per_second(self, step: int) -> float | None:
        """The speed since this invocation settled; until then the earlier one's, if given."""
        if self.mark is None or step <= self.mark[0]:
            return self.rate_hint
        return (step - self.mark[0]) / max(self.clock() - self.mark[1], 1e-9)

    def end_step(self, step: int, current_end: int, limit: int) -> int:
        """Where the run should end, given that it is at ``step`` now: the step the measured speed
        reaches with the budget's time left (less the reserve), at most ``limit`` (the configured
        steps or epochs) and not before ``step``. Before there is a speed, ``current_end``."""
        if self.left() <= 0:
            return step
        rate = self.steps_per_second(step)
        if rate is None:
            return min(current_end, limit)
        return max(step, min(limit, step + int((self.left() - self.reserve) * rate)))


# Steps between fits of the run's end to its time budget (a collective under DDP): 20, or a hundredth
# of the run when that is shorter, so a short run is not cut off between two fits.
BUDGET_FIT_EVERY = 20


class RunLength:
    """How long a run is: ``total``, the last step of its schedule (the configured epochs or
    ``max_steps``, which a time budget moves as the run measures its speed), and ``end``, the last
    step of this invocation (``total``, or earlier with ``train.stop_after_steps``).

    ``ckpt``: the checkpoint a run resumes from; with a budget, its last measured speed gives the end
    until this invocation measures its own."""

    def __init__(self, step_limit: int, stop_after: int = 0, budget: TimeBudget | None = None, ckpt=None):
        self.step_limit, self.stop_after, self.budget = step_limit, stop_after, budget
        self.total = step_limit
        if budget is not None and ckpt is not None:
            self.total = budget.end_step(ckpt["step"], ckpt["total_steps"], step_limit)

    @property
    def end(self) -> int:
        return min(self.total, self.stop_after) if self.stop_after else self.total

    def fit(self, step: int, decide: Callable[[int], int] | None = None) -> bool:
        """After ``step``: with a time budget, move ``total`` to where the measured speed meets the
        budget's end. ``decide`` makes every rank agree (DDP: rank 0's answer, broadcast; every rank
        calls ``fit``). True when ``total`` moved."""
        if self.budget is None:
            return False
        self.budget.observe(step)
        if step % max(1, min(BUDGET_FIT_EVERY, self.total // 100)):
            return False
        fitted = self.budget.end_step(step, self.total, self.step_limit)
        if decide is not None:
            fitted = decide(fitted)
        if fitted == self.total:
            return False
        self.total = fitted
        return True
