"""The one way this package makes a figure: a matplotlib ``Figure`` on its own Agg canvas.

Never pyplot: pyplot keeps process-wide figure state and picks a backend that may want a
display; a worker process, a test and a server need neither. Imported by every layer that
draws (train/, search/, analysis/), like errors.py.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of `width` x `height` inches with constrained layout, ready to render."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig
