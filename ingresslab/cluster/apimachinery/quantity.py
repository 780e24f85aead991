"""Resource quantities (`500m`, `128Mi`, `1.5`, `2G`, `1e3`) as numbers, as apimachinery's `resource.Quantity` reads
them: decimal suffixes (m, k, M, G, T, P, E), binary ones (Ki … Ei) and decimal exponents. The scheduler compares a
pod's requests with a node's allocatable through these; nothing here formats quantities back.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["parse_quantity", "milli"]

_SUFFIX = {"": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
           "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
           "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
           "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$")


def parse_quantity(value) -> Decimal:
    """A quantity as a Decimal of base units (cores, bytes); ValueError naming the value when it is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got {value!r})")
    number, exponent, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a quantity") from None
    if exponent:
        return base * Decimal(10) ** int(exponent[1:])
    return base * _SUFFIX[suffix or ""]


def milli(value) -> int:
    """A quantity in thousandths, rounded up (how the scheduler counts CPU: `MilliValue()`)."""
    scaled = parse_quantity(value) * 1000
    return int(scaled.to_integral_value(rounding="ROUND_CEILING"))
