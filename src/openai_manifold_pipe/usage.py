"""Usage: the one-line summary shown with an answer: tokens, speed and cost.

Prices come from the MODEL_PRICES valve, `model=input/output` in US dollars per
million tokens; dated snapshots (`gpt-4o-2024-08-06`) use their model's price and
globs (`gpt-5*`) cover families. The defaults are OpenAI's list prices when this
version was released: they count on OpenAI's own API and Azure OpenAI only, since
a `gpt-4o` served by a local server or a router costs something else or nothing.
Entries an admin adds or changes count on any endpoint.
"""

import fnmatch
import functools
import re

DEFAULT_PRICES = (
    "gpt-5.4=2.50/15, gpt-5.4-mini=0.75/4.50, gpt-5.2=1.75/14, gpt-5.1=1.25/10, "
    "gpt-5=1.25/10, gpt-5-mini=0.25/2, gpt-5-nano=0.05/0.40, gpt-4.1=2/8, "
    "gpt-4.1-mini=0.40/1.60, gpt-4.1-nano=0.10/0.40, gpt-4o=2.50/10, "
    "gpt-4o-mini=0.15/0.60, o4-mini=1.10/4.40, o3=2/8, o3-mini=1.10/4.40, "
    "o1=15/60, gpt-3.5-turbo=0.50/1.50"
)

_PRICE = re.compile(r"\s*([^=\s,]+)\s*=\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*")
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")

Prices = dict[str, tuple[float, float]]


@functools.lru_cache(maxsize=8)
def parse_prices(text: str) -> Prices:
    """`model=in/out, ...` as a dict; raises ValueError naming the bad item.

    Cached: every answer's summary looks prices up in the same valve text.
    """
    prices: Prices = {}
    for item in filter(str.strip, text.split(",")):
        match = _PRICE.fullmatch(item)
        if not match:
            raise ValueError(
                f"MODEL_PRICES item {item.strip()!r} is not model=input/output, "
                "e.g. gpt-4o=2.50/10 (US dollars per million tokens)"
            )
        prices[match.group(1).lower()] = (float(match.group(2)), float(match.group(3)))
    return prices


@functools.lru_cache(maxsize=8)
def prices_for(text: str, openai_api: bool) -> Prices:
    """The MODEL_PRICES entries that apply on this kind of endpoint."""
    prices = parse_prices(text)
    if openai_api:
        return prices
    listed = parse_prices(DEFAULT_PRICES)
    return {
        model: price for model, price in prices.items() if listed.get(model) != price
    }


def price_of(model: str, prices: Prices) -> tuple[float, float] | None:
    """The price of a model: exact id, then its undated snapshot name, then globs."""
    name = model.rsplit("/", 1)[-1].lower()
    for candidate in (name, _SNAPSHOT.sub("", name)):
        if candidate in prices:
            return prices[candidate]
    for pattern, price in prices.items():
        if fnmatch.fnmatchcase(name, pattern):
            return price
    return None


def summary(
    usage: dict | None, seconds: float, price: tuple[float, float] | None
) -> str:
    """`12 in · 345 out (200 reasoning) · 85 tok/s · $0.0012`, or the time alone."""
    if not isinstance(usage, dict):
        return f"Done in {seconds:.1f} s"
    tokens_in, tokens_out = tokens_of(usage)
    details = usage.get("completion_tokens_details") or {}
    reasoning = _count(details, "reasoning_tokens") if isinstance(details, dict) else 0
    parts = [f"{tokens_in:,} in", f"{tokens_out:,} out"]
    if reasoning:
        parts[-1] += f" ({reasoning:,} reasoning)"
    if seconds > 0 and tokens_out:
        parts.append(f"{tokens_out / seconds:,.0f} tok/s")
    cost = cost_of(usage, price)
    if cost is not None:
        parts.append(_dollars(cost))
    return " · ".join(parts)


def tokens_of(usage: dict | None) -> tuple[int, int]:
    """(input, output) tokens, from either API's usage object."""
    if not isinstance(usage, dict):
        return 0, 0
    return (
        _count(usage, "prompt_tokens", "input_tokens"),
        _count(usage, "completion_tokens", "output_tokens"),
    )


def cost_of(usage: dict | None, price: tuple[float, float] | None) -> float | None:
    """US dollars for a usage at a price, or None when either is unknown."""
    if not price or not isinstance(usage, dict):
        return None
    tokens_in, tokens_out = tokens_of(usage)
    return (tokens_in * price[0] + tokens_out * price[1]) / 1_000_000


def _dollars(cost: float) -> str:
    """Cents matter on long chats, and a short chat must not read as `$0.0000`."""
    if cost >= 1:
        return f"${cost:.2f}"
    if cost >= 0.0001:
        return f"${cost:.4f}"
    return "<$0.0001" if cost else "$0"


def _count(data: dict, *names: str) -> int:
    for name in names:
        value = data.get(name)
        if isinstance(value, (int, float)):
            return int(value)
    return 0
