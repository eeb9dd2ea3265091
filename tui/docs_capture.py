"""Plain-text capture of the current screen (for docs/tui.md and debugging)."""

from __future__ import annotations

import io

from rich.console import Console


def screen_text(app) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False, safe_box=False)
    screen_render = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(screen_render)
    return "\n".join(line.rstrip() for line in console.export_text(styles=False).splitlines())
