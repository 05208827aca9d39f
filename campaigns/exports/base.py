"""What every export shares: the error it raises, the report of what it left out, chunking."""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


class ExportError(Exception):
    """The export cannot be produced as asked; the message says what to fix."""


@dataclass
class ExportReport:
    """Rows an export left out, by reason, so the command and the logs can say so."""

    skipped: Counter = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def warnings(self) -> list[str]:
        return [f"{count} skipped: {reason}" for reason, count in sorted(self.skipped.items())]


def chunked(lines: Iterable[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """Join lines into blocks of about `size` bytes: far fewer writes than one per line."""
    buffer: list[str] = []
    length = 0
    for line in lines:
        buffer.append(line)
        length += len(line)
        if length >= size:
            yield "".join(buffer).encode()
            buffer.clear()
            length = 0
    if buffer:
        yield "".join(buffer).encode()
