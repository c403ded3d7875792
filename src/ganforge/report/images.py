"""Image compositions for reports and sweeps: captioned side-by-side panels and grid animations."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from ganforge.atomic import written_atomically

CAPTION_HEIGHT = 16


def side_by_side(panels: list[tuple[str, Path | Image.Image]], out: Path, columns: int = 4,
                 width: int = 240) -> Path | None:
    """Images scaled to `width`, each under its caption, `columns` to a row; None if no panels."""
    if not panels:
        return None
    images = [(caption, (Image.open(source) if isinstance(source, Path) else source).convert("RGB"))
              for caption, source in panels]
    scaled = [(caption, image.resize((width, round(image.height * width / image.width)), Image.NEAREST))
              for caption, image in images]
    cell_height = max(image.height for _, image in scaled) + CAPTION_HEIGHT
    columns = min(columns, len(scaled))
    rows = -(-len(scaled) // columns)
    sheet = Image.new("RGB", (columns * (width + 8) + 8, rows * (cell_height + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (caption, image) in enumerate(scaled):
        left = 8 + (index % columns) * (width + 8)
        top = 8 + (index // columns) * (cell_height + 8)
        draw.text((left, top), caption[: width // 6], fill="black")
        sheet.paste(image, (left, top + CAPTION_HEIGHT))
    out.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(out) as partial:
        sheet.save(partial)
    return out


def animate(grids: list[Path], out: Path, milliseconds: int = 400) -> Path | None:
    """The per-epoch grids as one looping GIF (the last frame held a little longer)."""
    if not grids:
        return None
    frames = [Image.open(path).convert("RGB") for path in grids]
    out.parent.mkdir(parents=True, exist_ok=True)
    durations = [milliseconds] * (len(frames) - 1) + [milliseconds * 4]
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return out


def mode_map(counts: list[int], out: Path, cell: int = 6) -> Path:
    """Stacked MNIST's 1,000 modes as ten 10 x 10 panels (panel: the first digit, row: the
    second, column: the third); a covered mode is green, darker the more samples it drew, a
    missed one red."""
    most = max(max(counts), 1)
    panel = 10 * cell
    sheet = Image.new("RGB", (5 * (panel + 8) + 8, 2 * (panel + CAPTION_HEIGHT + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for first in range(10):
        left = 8 + (first % 5) * (panel + 8)
        top = 8 + (first // 5) * (panel + CAPTION_HEIGHT + 8)
        draw.text((left, top), f"{first}xx", fill="black")
        for second in range(10):
            for third in range(10):
                count = counts[100 * first + 10 * second + third]
                shade = 255 - round(180 * count / most)
                colour = (shade // 3, shade, shade // 3) if count else (220, 60, 60)
                x, y = left + third * cell, top + CAPTION_HEIGHT + second * cell
                draw.rectangle((x, y, x + cell - 2, y + cell - 2), fill=colour)
    out.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(out) as partial:
        sheet.save(partial)
    return out
