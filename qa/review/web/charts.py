"""Small server-side SVG charts (no JavaScript, no chart library). Words (titles, legends) stay in the
templates; a chart holds only numbers and data labels, escaped. Colours come from CSS classes."""

from __future__ import annotations

from html import escape


def _svg(width: int, height: int, body: list[str]) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>')


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, int) or float(value).is_integer() else f"{value:.1f}"


def histogram(counts: list[int], bucket: int = 10, width: int = 480, height: int = 220) -> str:
    """Vertical bars, one per score bucket (0–9, 10–19, …), labelled with the bucket start and the count."""
    left, bottom, top = 10, 24, 18
    top_count = max(counts, default=0) or 1
    slot = (width - 2 * left) / max(len(counts), 1)
    body = [f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}"/>']
    for i, n in enumerate(counts):
        h = (height - bottom - top) * n / top_count
        x = left + i * slot
        y = height - bottom - h
        body.append(f'<rect class="bar{" bar-low" if i * bucket < 60 else ""}" x="{x + 3:.1f}" y="{y:.1f}" '
                    f'width="{slot - 6:.1f}" height="{h:.1f}" rx="2"><title>{i * bucket}–{i * bucket + bucket - 1}: '
                    f'{n}</title></rect>')
        body.append(f'<text class="tick" x="{x + slot / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                    f'{i * bucket}</text>')
        if n:
            body.append(f'<text class="value" x="{x + slot / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{n}</text>')
    return _svg(width, height, body)


def bars(items: list[tuple[str, float]], width: int = 480, row: int = 24) -> str:
    """Horizontal bars, one per (label, value), largest first as given."""
    label_w, pad = 190, 6
    height = max(len(items), 1) * row + pad
    top_value = max((v for _, v in items), default=0) or 1
    body = []
    for i, (label, value) in enumerate(items):
        y = pad + i * row
        w = (width - label_w - 40) * value / top_value
        text = str(label)
        short = text if len(text) <= 28 else text[:27].rstrip() + "…"  # rule titles are long; full one on hover
        body.append(f'<text class="label" x="{label_w - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
                    f'<title>{escape(text)}</title>{escape(short)}</text>')
        body.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" rx="2"/>')
        body.append(f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + row / 2 + 4:.1f}">{_num(value)}</text>')
    return _svg(width, height, body)


def trend(days: list[str], avg_scores: list[float | None], flagged: list[float], width: int = 480,
          height: int = 220, flagged_top: float | None = None, unit: str = "") -> str:
    """Per day (or week): flagged as bars (right scale, up to ``flagged_top``, else the largest; ``unit`` after its
    label) and average score as a line (0–100, left scale)."""
    left, right, bottom, top = 34, 40, 24, 14
    plot_h = height - bottom - top
    slot = (width - left - right) / max(len(days), 1)
    top_flagged = flagged_top or max(flagged, default=0) or 1
    body = []
    for score in (0, 50, 100):
        y = top + plot_h * (1 - score / 100)
        body.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
        body.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{score}</text>')
    body.append(f'<text class="tick" x="{width - right + 6}" y="{top + 4}">{_num(top_flagged)}{escape(unit)}</text>')
    points = []
    for i, (day, score, n) in enumerate(zip(days, avg_scores, flagged, strict=True)):
        cx = left + (i + 0.5) * slot
        h = plot_h * n / top_flagged
        body.append(f'<rect class="bar bar-flagged" x="{cx - min(slot * 0.3, 24):.1f}" y="{top + plot_h - h:.1f}" '
                    f'width="{min(slot * 0.6, 48):.1f}" height="{h:.1f}" rx="2"><title>{escape(day)}: {n}</title>'
                    '</rect>')
        if len(days) <= 14 or i % max(1, len(days) // 7) == 0:
            body.append(f'<text class="tick" x="{cx:.1f}" y="{height - 8}" text-anchor="middle">'
                        f'{escape(day[5:] if len(day) == 10 else day)}</text>')
        if score is not None:
            points.append((cx, top + plot_h * (1 - float(score) / 100), score))
    if points:
        body.append('<polyline class="line" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points) + '"/>')
        body += [f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"><title>{_num(s)}</title></circle>'
                 for x, y, s in points]
    return _svg(width, height, body)


def sparkline(values: list[float | None], low: float, high: float, width: int = 160, height: int = 34,
              css: str = "spark-score") -> str:
    """A small line of ``values`` (gaps where ``None``) on a fixed ``low``–``high`` scale, the last point marked."""
    pad = 3
    span = (high - low) or 1
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    body, run = [], []
    points = []
    for i, value in enumerate(values):
        if value is None:
            if len(run) > 1:
                body.append(f'<polyline class="{css}" points="{" ".join(run)}"/>')
            run = []
            continue
        x = pad + i * step
        y = pad + (height - 2 * pad) * (1 - (float(value) - low) / span)
        run.append(f"{x:.1f},{y:.1f}")
        points.append((x, y, value))
    if len(run) > 1:
        body.append(f'<polyline class="{css}" points="{" ".join(run)}"/>')
    for n, (x, y, value) in enumerate(points):
        radius = 2.6 if n == len(points) - 1 else 1.4
        body.append(f'<circle class="{css} dot" cx="{x:.1f}" cy="{y:.1f}" r="{radius}"><title>{_num(value)}</title>'
                    "</circle>")
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>')


def moves(items: list[tuple[str, float]], width: int = 480, row: int = 24) -> str:
    """Bars left (down) or right (up) of a middle line, one per (label, change), biggest move first as given."""
    label_w, pad = 190, 6
    height = max(len(items), 1) * row + pad
    middle = label_w + (width - label_w) / 2
    reach = max((abs(v) for _, v in items), default=0) or 1
    half = (width - label_w) / 2 - 50
    body = [f'<line class="axis" x1="{middle:.1f}" y1="0" x2="{middle:.1f}" y2="{height}"/>']
    for i, (label, value) in enumerate(items):
        y = pad + i * row
        w = half * abs(value) / reach
        x = middle if value >= 0 else middle - w
        text = str(label)
        short = text if len(text) <= 28 else text[:27].rstrip() + "…"
        body.append(f'<text class="label" x="{label_w - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
                    f'<title>{escape(text)}</title>{escape(short)}</text>')
        body.append(f'<rect class="bar {"bar-up" if value > 0 else "bar-down"}" x="{x:.1f}" y="{y + 3}" '
                    f'width="{w:.1f}" height="{row - 8}" rx="2"/>')
        tx = middle + w + 6 if value >= 0 else middle - w - 6
        body.append(f'<text class="value" x="{tx:.1f}" y="{y + row / 2 + 4:.1f}" '
                    f'text-anchor="{"start" if value >= 0 else "end"}">{"+" if value > 0 else ""}{_num(value)}</text>')
    return _svg(width, height, body)
