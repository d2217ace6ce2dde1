"""A log view that stays responsive at 100,000+ lines: it renders only the visible rows from a
`LogBuffer` (toolong's idea), follows the tail until the user scrolls up, and soft-wraps on demand."""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kvtui.core.logs import LogBuffer


class LogView(ScrollView, can_focus=True):
    DEFAULT_CSS = "LogView { height: 1fr; }"

    def __init__(self, buffer: LogBuffer | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.buffer = buffer or LogBuffer()
        self.follow = True
        self.wrap = False
        self._rows: list[tuple[int, int]] | None = None   # (line index, offset) when wrapping
        self._widest = 0

    def append(self, lines: list[str]) -> None:
        self.buffer.append(lines)
        self._widest = max([self._widest, *(len(line) for line in lines)]) if lines else self._widest
        self._relayout()

    def set_filter(self, text: str) -> None:
        self.buffer.set_filter(text)
        self._relayout()

    def clear(self) -> None:
        self.buffer.clear()
        self._widest = 0
        self._relayout()

    def toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._relayout()

    def on_resize(self) -> None:
        if self.wrap:
            self._relayout()

    def _relayout(self) -> None:
        width = max(self.scrollable_content_region.width, 1)
        if self.wrap:
            rows: list[tuple[int, int]] = []
            for i in range(len(self.buffer)):
                length = len(self.buffer.line(i))
                rows.extend((i, offset) for offset in range(0, max(length, 1), width))
            self._rows = rows
            self.virtual_size = Size(width, len(rows))
        else:
            self._rows = None
            self.virtual_size = Size(self._widest, len(self.buffer))
        if self.follow:   # after the new virtual size is laid out, or the end is the old one
            self.call_after_refresh(self._to_end)
        self.refresh()

    def _to_end(self) -> None:
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        # Scrolling up stops following; coming back to the end resumes it (as `tail -f` viewers do).
        self.follow = new >= self.max_scroll_y

    def visible_text(self) -> list[str]:
        return [self.render_line(y).text.rstrip() for y in range(self.scrollable_content_region.height)]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        index = int(self.scroll_offset.y) + y
        if self._rows is not None:
            if index >= len(self._rows):
                return Strip.blank(width)
            line_no, offset = self._rows[index]
            text = self.buffer.line(line_no)[offset:offset + width]
        else:
            if index >= len(self.buffer):
                return Strip.blank(width)
            x = int(self.scroll_offset.x)
            text = self.buffer.line(index)[x:x + width]
        return Strip([Segment(text)]).adjust_cell_length(width)
