"""The one matplotlib set-up and save every report plot shares: headless backend, tight layout, PNG."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    from borderless.atomic_files import replace_atomically

    fig.tight_layout()
    try:  # whole or absent: a killed run never leaves half a PNG
        replace_atomically(Path(path), lambda tmp: fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png"))
    finally:
        plt.close(fig)
