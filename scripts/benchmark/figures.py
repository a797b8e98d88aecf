"""One row of the table: a figure per side, its ratios, and its verdict."""

from __future__ import annotations

from dataclasses import dataclass, field


def fmt(value: float | None, unit: str) -> str:
    """A value as the table shows it: fewer decimals the larger it is."""
    if value is None:
        return "-"
    if unit == "chunks/s" or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass
class Figure:
    """One row of the table. `minimal` is the reference pipe (diagnostic column).

    The fields, in this order, are a figure's JSON (plus `ratio`, `ratio_minimal`)."""

    key: str
    label: str
    unit: str
    builtin: float | None
    pipe: float | None
    floor: float | None = None
    minimal: float | None = None
    ratio_kind: str = "time"  # "time": pipe/builtin; "rate": builtin/pipe; "none"
    note: str = ""
    variants: dict[str, float | None] = field(default_factory=dict)  # --variant builds
    # Medians of the ratios of runs made back to back (same direction as `ratio`):
    # the pipe against the built-in, and against the minimal pipe.
    paired: float | None = None
    paired_minimal: float | None = None
    # /health figures: the lower median of the windows' longest delays, per side.
    typical: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def of(
        cls, key: str, label: str, unit: str, values: dict[str, float | None], **rest
    ) -> Figure:
        """A row from one value per side, as phases measure them: "builtin", "pipe",
        "floor", "minimal", and "v:NAME" for each `--variant` build."""
        return cls(
            key,
            label,
            unit,
            values.get("builtin"),
            values.get("pipe"),
            floor=values.get("floor"),
            minimal=values.get("minimal"),
            variants={
                side[2:]: value
                for side, value in values.items()
                if side.startswith("v:")
            },
            **rest,
        )

    @classmethod
    def shown(
        cls,
        key: str,
        label: str,
        unit: str,
        builtin: float | None,
        pipe: float | None,
        **rest,
    ) -> Figure:
        """A row with no ratio: the sides are not compared (or only one is measured),
        or a target judges it otherwise (/health: the typical window)."""
        return cls(key, label, unit, builtin, pipe, ratio_kind="none", **rest)

    def _ratio(self, reference: float | None) -> float | None:
        if self.ratio_kind == "none" or reference is None or self.pipe is None:
            return None
        if self.ratio_kind == "rate":
            return reference / self.pipe if self.pipe else None
        return self.pipe / reference if reference else None

    @property
    def ratio(self) -> float | None:
        """How much worse the pipe is than the built-in connection (> 1: worse)."""
        return self._ratio(self.builtin)

    @property
    def ratio_minimal(self) -> float | None:
        """How much worse the pipe is than the minimal reference pipe."""
        return self._ratio(self.minimal)

    @property
    def judged(self) -> float | None:
        """The ratio a target judges: paired when there is one, drift shifts it less."""
        return self.paired if self.paired is not None else self.ratio

    def verdict(self, limit: float) -> tuple[bool, str]:
        """Within `limit`? And the figures behind the answer, for the PASS/FAIL line."""
        kind = "paired ratio" if self.paired is not None else "ratio"
        unit = "chunks/s" if self.ratio_kind == "rate" else "ms"
        sides = (
            (self.builtin, self.pipe)
            if self.ratio_kind == "rate"
            else (self.pipe, self.builtin)
        )
        values = " vs ".join(fmt(value, unit) for value in sides)
        return (
            self.judged <= limit,
            f"{kind} {self.judged:.3f} (medians {values} {unit})",
        )


def find(figures: list[Figure], key: str) -> Figure | None:
    """The first figure with this key, None when its phase did not run or failed."""
    return next((f for f in figures if f.key == key), None)
