"""A small server-side SVG bar chart of orders per day; no chart library, nothing loaded from elsewhere."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

WIDTH, HEIGHT, PAD = 560, 160, 24


def orders_per_day_svg(per_day: dict[int, int], *, days: int, today: int) -> str:
    """`per_day` maps day numbers (days since the epoch, shop-local) to counts."""
    span = list(range(today - days, today + 1))
    counts = [per_day.get(day, 0) for day in span]
    top = max(counts + [1])
    bar_width = (WIDTH - 2 * PAD) / len(span)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="Orders per day over the last {days} days" xmlns="http://www.w3.org/2000/svg">']
    for position, (day, count) in enumerate(zip(span, counts)):
        height = (HEIGHT - 2 * PAD) * count / top
        x = PAD + position * bar_width
        y = HEIGHT - PAD - height
        label = (date(1970, 1, 1) + timedelta(days=day)).strftime("%d.%m")
        parts.append(f'<g><title>{escape(label)}: {count} orders</title>'
                     f'<rect class="bar" x="{x + 2:.1f}" y="{y:.1f}" width="{bar_width - 4:.1f}" '
                     f'height="{height:.1f}"/>'
                     f'<text class="count" x="{x + bar_width / 2:.1f}" y="{y - 4:.1f}">{count}</text>'
                     f'<text class="day" x="{x + bar_width / 2:.1f}" y="{HEIGHT - 6}">{escape(label)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
