"""Saving matplotlib figures: a PNG under reports/figures/ and the same bytes for the HTML page."""

import base64
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: the report is written by a command or a test
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titlesize": 11,
                     "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
                     "legend.fontsize": 9, "axes.spines.top": False, "axes.spines.right": False})


@dataclass
class SavedFigure:
    name: str
    path: Path
    png_base64: str
    caption: str


@dataclass
class FigureStore:
    """Collects the report's figures, writing each as ``<folder>/<name>.png``."""

    folder: Path
    saved: list[SavedFigure] = field(default_factory=list)

    def save(self, figure: Figure, name: str, caption: str) -> SavedFigure:
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(figure)
        path = self.folder / f"{slug(name)}.png"
        path.write_bytes(buffer.getvalue())
        saved = SavedFigure(slug(name), path, base64.b64encode(buffer.getvalue()).decode(),
                            caption)
        self.saved.append(saved)
        return saved


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def new_figure(width: float = 7.0, height: float = 4.0, columns: int = 1):
    """A figure with ``columns`` side-by-side axes (one Axes, or an array of them)."""
    return plt.subplots(1, columns, figsize=(width, height), layout="constrained")


def heatmap(ax: plt.Axes, grid, number_format: str, colour_label: str, cmap: str,
            annotate_cells: int = 200) -> None:
    """``grid`` (a DataFrame) as a heatmap with a labelled colour bar; cells are written in
    when there are at most ``annotate_cells``, in black or white by the cell's brightness."""
    import numpy as np

    values = grid.to_numpy(dtype=float)
    image = ax.imshow(values, cmap=cmap, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label=colour_label)
    ax.set_xticks(range(grid.shape[1]), [str(column) for column in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(index) for index in grid.index])
    if values.size > annotate_cells:
        return
    for (row, column), value in np.ndenumerate(values):
        if not np.isnan(value):
            red, green, blue, _ = image.cmap(image.norm(value))
            brightness = 0.299 * red + 0.587 * green + 0.114 * blue
            ax.text(column, row, number_format.format(value), ha="center", va="center",
                    fontsize=8 if values.size <= 100 else 6.5,
                    color="black" if brightness > 0.55 else "white")


def thousands(axis) -> None:
    """Tick labels with thousands separators (1,000,000 rather than 1e6)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
