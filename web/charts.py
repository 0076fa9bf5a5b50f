"""Bar charts drawn on the server as SVG: the geometry here, the markup in
``templates/_bar_chart.html``. Ours rather than a library's: a few dozen lines, no script, no
inline style (the colours are classes of the style sheet, so the security policy holds), and
every figure the chart shows is in the table beside it too.

Each column is a category (a financial year); its bars are stacked series (kinds of cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from web.formats import gbp, gbp_short

WIDTH = 960
HEIGHT = 320
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 28, 40
SERIES_CLASSES = 6  # .chart__bar--0 … --5 in the style sheet


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[Decimal]


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str  # what a pointer over the bar shows


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    centre: float
    total: str
    total_y: float
    bars: list[Bar]


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class LegendItem:
    name: str
    css: str


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    description: str
    width: int
    height: int
    left: int
    right: float
    baseline: float
    ticks: list[Tick]
    columns: list[Column]
    legend: list[LegendItem]


def nice_step(top: Decimal, lines: int = 4) -> Decimal:
    """A round step (1, 2, 2.5 or 5 times a power of ten) for about ``lines`` grid lines."""
    if top <= 0:
        return Decimal(1)
    raw = top / lines
    magnitude = Decimal(10) ** (len(str(int(raw))) - 1) if raw >= 1 else Decimal(1)
    for factor in (1, 2, Decimal("2.5"), 5, 10):
        step = magnitude * factor
        if step >= raw:
            return step
    return magnitude * 10


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    description: str = "",
) -> BarChart:
    """A column per category, its series stacked bottom to top in the order given."""
    totals = [sum((s.values[i] for s in series), Decimal(0)) for i in range(len(categories))]
    top = max([*totals, Decimal(0)])
    step = nice_step(top)
    # The first grid line at or above the tallest column.
    ceiling = step * max(1, int((top / step).to_integral_value(rounding=ROUND_CEILING)))
    plot_h = HEIGHT - TOP - BOTTOM
    plot_w = WIDTH - LEFT - RIGHT
    baseline = TOP + plot_h

    def y_of(amount: Decimal) -> float:
        return baseline - float(amount / ceiling) * plot_h

    slot = plot_w / max(len(categories), 1)
    bar_w = min(96.0, slot * 0.6)
    columns: list[Column] = []
    for i, label in enumerate(categories):
        centre = LEFT + slot * (i + 0.5)
        bars: list[Bar] = []
        below = Decimal(0)
        for n, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            y_top, y_bottom = y_of(below + value), y_of(below)
            bars.append(
                Bar(
                    x=round(centre - bar_w / 2, 1),
                    y=round(y_top, 1),
                    width=round(bar_w, 1),
                    height=round(max(y_bottom - y_top, 0.5), 1),
                    css=f"chart__bar--{n % SERIES_CLASSES}",
                    title=f"{label}: {s.name} {gbp(value)}" if len(series) > 1 else gbp(value),
                )
            )
            below += value
        columns.append(
            Column(
                label=label,
                centre=round(centre, 1),
                total=gbp_short(totals[i]),
                total_y=round(y_of(totals[i]) - 8, 1),
                bars=bars,
            )
        )
    ticks = [
        Tick(y=round(y_of(step * k), 1), label=gbp_short(step * k))
        for k in range(int(ceiling / step) + 1)
    ]
    legend = (
        [LegendItem(s.name, f"chart__bar--{n % SERIES_CLASSES}") for n, s in enumerate(series)]
        if len(series) > 1
        else []
    )
    return BarChart(
        title=title,
        description=description,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        baseline=baseline,
        ticks=ticks,
        columns=columns,
        legend=legend,
    )
