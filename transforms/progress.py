"""Progress of long work, shown the same way by every command: on a terminal a bar with the count, rate and ETA (drawn
by rich); anywhere else (CI, a Prefect worker, output sent to a file) a plain line every few seconds, so logs stay
readable. Here, below the flows and the trainer, so both use it."""

from __future__ import annotations

import atexit
import logging
import time
from datetime import timedelta
from types import TracebackType

from rich import progress as bars
from rich.console import Console
from rich.text import Text

LOG_SECONDS = 10.0  # between two plain progress lines


class Progress:
    """Counts work done towards a total (None when unknown: a count and a rate, no ETA) and shows it: a bar on a
    terminal, else a line every every_seconds to log (a logger, e.g. Prefect's run logger) or the console's stream.
    done: work already done before this process (a resumed run), left out of the rate. show: False shows nothing
    (the other processes of a distributed job). A context manager; or call close()."""

    def __init__(
        self,
        what: str,
        total: float | None = None,
        unit: str = "documents",
        *,
        done: float = 0,
        decimals: int = 0,
        every_seconds: float = LOG_SECONDS,
        log: logging.Logger | logging.LoggerAdapter | None = None,
        console: Console | None = None,
        show: bool = True,
    ) -> None:
        self.what, self.total, self.unit, self.decimals = what, total, unit, decimals
        self.done = self.first = done
        self.start = self.last = time.perf_counter()
        self.every_seconds, self.log, self.show = every_seconds, log, show
        self.console = console or Console(stderr=True)
        self.bar: bars.Progress | None = None
        if show and self.console.is_terminal and not self.console.is_dumb_terminal:
            self.bar = bars.Progress(
                bars.TextColumn("{task.description}"),
                bars.BarColumn(),
                bars.TaskProgressColumn(),
                _Amounts(self),
                bars.TimeRemainingColumn(elapsed_when_finished=True),
                bars.TextColumn("{task.fields[note]}"),
                console=self.console,
            )
            self.task = self.bar.add_task(what, total=total, completed=done, note="")
            self.bar.start()
            atexit.register(self.close)  # an error that ends the command still gives the terminal its cursor back

    def advance(self, amount: float = 1, note: str | None = None) -> None:
        """amount more work done; note (e.g. the loss, tokens written) is shown after the figures."""
        self.update(self.done + amount, note)

    def update(self, done: float, note: str | None = None) -> None:
        """The work done so far."""
        self.done = done
        if self.bar is not None:
            self.bar.update(self.task, completed=done, **({"note": note} if note is not None else {}))
        elif self.show and time.perf_counter() - self.last >= self.every_seconds:
            self.last = time.perf_counter()
            line = self.line() + (f", {note}" if note else "")
            if self.log is not None:
                self.log.info("%s", line)
            else:
                self.console.out(line, highlight=False)

    def line(self) -> str:
        """'what: 1,234/5,000 documents, 310/s, 25% done, ETA 0:00:12', from the work done so far."""
        rate = (self.done - self.first) / max(self.seconds, 1e-9)
        text = f"{self.what}: {self.amounts(self.done, rate)}"
        if not self.total:
            return text
        eta = (
            f", ETA {timedelta(seconds=round((self.total - self.done) / rate))}"
            if 0 < rate and self.done < self.total
            else ""
        )
        return f"{text}, {self.done / self.total:.0%} done{eta}"

    def amounts(self, done: float, rate: float | None) -> str:
        """'1,234/5,000 documents, 310/s' (without a total: '1,234 documents, 310/s')."""
        f = f",.{self.decimals}f"
        of = f"/{self.total:{f}}" if self.total is not None else ""
        text = f"{done:{f}}{of} {self.unit}"
        if rate is None:
            return text
        return f"{text}, {rate:,.0f}/s" if rate >= 10 else f"{text}, {rate:.2g}/s"  # 0.25 steps/s, not 0

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def close(self) -> None:
        """Stop the bar (left on screen at its last state)."""
        if self.bar is not None:
            self.bar.stop()
            atexit.unregister(self.close)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class _Amounts(bars.ProgressColumn):
    """The bar's 'done/total unit, rate/s' column, in the same words as the plain lines."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def render(self, task: bars.Task) -> Text:
        return Text(self.progress.amounts(task.completed, task.speed))
