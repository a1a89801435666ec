"""The quote model interface: what a model is given (`MarketState`, a block of grid cells), what it returns
(touch probabilities), and how the configured model is found (`load_model("module:Class")`)."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from taptrade.grid import GridSpec


@dataclass(frozen=True, slots=True)
class MarketState:
    price_cents: int  # the current price
    now_ms: int  # the current time, exchange clock (the clock columns resolve on)
    sigma_cents_per_sqrt_s: float  # volatility of the price path

    def __post_init__(self) -> None:
        if self.price_cents <= 0:
            raise ValueError(f"price must be positive, got {self.price_cents} cents")
        if not (math.isfinite(self.sigma_cents_per_sqrt_s) and self.sigma_cents_per_sqrt_s >= 0):
            raise ValueError(f"sigma must be finite and >= 0, got {self.sigma_cents_per_sqrt_s}")


@runtime_checkable
class QuoteModel(Protocol):
    def touch_probabilities(
        self, state: MarketState, grid: GridSpec, first_column: int, columns: int, first_row: int, rows: int
    ) -> npt.NDArray[np.float64]:
        """Probability that the price touches each cell's band during its column, shape (columns, rows):
        `[c][r]` is column `first_column + c`, row `first_row + r`; floats in [0, 1]."""
        ...


def load_model(spec: str) -> QuoteModel:
    """`"taptrade.pricing.touch:TouchModel"` -> an instance of that class, made with no arguments."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name or ":" in class_name:
        raise ValueError(
            f"quote model must be 'module:Class', e.g. 'taptrade.pricing.touch:TouchModel': {spec!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"quote model {spec!r}: cannot import module {module_name!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ValueError(f"quote model {spec!r}: module {module_name!r} has no class {class_name!r}")
    try:
        model = cls()
    except TypeError as exc:
        raise ValueError(
            f"quote model {spec!r}: the class must be constructible with no arguments: {exc}"
        ) from exc
    if not isinstance(model, QuoteModel):
        raise ValueError(f"quote model {spec!r}: {class_name} has no touch_probabilities method")
    return model
