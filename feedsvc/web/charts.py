"""Small server-side SVG bar charts (orders per day, feed requests per day by outcome); no chart library."""

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


STATUS_CLASSES = (("ok", "downloaded (200, 304)", lambda s: s in (200, 304)),
                  ("refused", "refused (401, 404, 429)", lambda s: 400 <= s < 500),
                  ("unavailable", "unavailable (503, errors)", lambda s: s >= 500 or s < 200))


def requests_per_day_svg(per_day: dict[int, dict[int, int]], *, days: int, today: int) -> str:
    """Feed requests per day, each bar stacked by outcome (its tooltip counts each status); `per_day` maps day
    numbers to {status: count}."""
    span = list(range(today - days, today + 1))
    stacks = []
    for day in span:
        by_status = per_day.get(day, {})
        stacks.append([(name, label, sum(n for status, n in by_status.items() if test(status)))
                       for name, label, test in STATUS_CLASSES])
    top = max([sum(count for _, _, count in stack) for stack in stacks] + [1])
    bar_width = (WIDTH - 2 * PAD) / len(span)
    label_every = 1 if days <= 10 else 5
    parts = [f'<svg class="chart deliveries" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="Feed requests per day over the last {days} days, by outcome" '
             'xmlns="http://www.w3.org/2000/svg">']
    for position, (day, stack) in enumerate(zip(span, stacks)):
        x = PAD + position * bar_width
        y: float = HEIGHT - PAD
        label = (date(1970, 1, 1) + timedelta(days=day)).strftime("%d.%m")
        total = sum(count for _, _, count in stack)
        by_status = per_day.get(day, {})
        summary = ", ".join(f"{by_status[status]}× {status}" for status in sorted(by_status)) or "no requests"
        parts.append(f'<g><title>{escape(label)}: {escape(summary)}</title>')
        for name, _, count in stack:
            if not count:
                continue
            height = (HEIGHT - 2 * PAD) * count / top
            y -= height
            parts.append(f'<rect class="bar {name}" x="{x + 2:.1f}" y="{y:.1f}" width="{bar_width - 4:.1f}" '
                         f'height="{height:.1f}"/>')
        if total:
            parts.append(f'<text class="count" x="{x + bar_width / 2:.1f}" y="{y - 4:.1f}">{total}</text>')
        if (today - day) % label_every == 0:  # a label every few days: thirty would overlap
            parts.append(f'<text class="day" x="{x + bar_width / 2:.1f}" y="{HEIGHT - 6}">{escape(label)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
