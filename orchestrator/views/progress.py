"""Progress on long commands: one spinner line per cluster while the local fleet starts.

The one place in this package that shows a clock: rich's elapsed-time column reads it.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

_PIECES = ("cluster ", "postgresql")


class StartProgress:
    """Turns ``Fleet.up`` progress messages into a spinner per cluster (and PostgreSQL).

    Call it with each message. ``cluster NAME: ...`` and ``postgresql: ...`` update that piece's
    line; a message starting with ``ready`` ticks it off. On a console that is not a terminal
    (a log, a CI job) every message is printed as a plain line instead.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.fields[piece]:<14}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> StartProgress:
        if self.live:
            self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.live:
            self.progress.stop()

    def __call__(self, message: str) -> None:
        piece, sep, text = message.partition(": ")
        if not self.live or not sep or not piece.startswith(_PIECES):
            self.console.print(message)
            return
        name = piece.removeprefix("cluster ")
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.progress.add_task(text, total=1, piece=name)
        done = text.startswith("ready")
        self.progress.update(task, description=text, completed=1 if done else 0)
        if done:
            self.progress.stop_task(task)
