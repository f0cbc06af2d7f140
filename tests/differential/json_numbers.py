"""Random JSON numbers and what each column type must hold for them, from Python's exact
arithmetic (decimal, fractions, correctly rounded float()). Drives
shared/maxcompute-core/tests/it/differential/json_numbers.rs.

    json_numbers.py --seed S --count N   prints one JSON case per line:
    {"text": "...", "type": "decimal(38,9)", "expect": {...}}

expect is one of {"plain": "..."} (DECIMAL: the plain value at the column's scale, rounded
half-up), {"bits": "0x..."} (DOUBLE/FLOAT: the IEEE bits of the correctly rounded value),
{"integer": "..."}, {"text": "..."} (STRING: the number as written) or {"reject": "..."}.
"""

import argparse
import decimal
import json
import random
import struct
from fractions import Fraction

CTX = decimal.Context(prec=2000, Emax=10**9, Emin=-(10**9))
DECIMALS = [(38, 9), (38, 18), (10, 2), (18, 0), (54, 18), (5, 5), (1, 0), (38, 0)]
INTEGERS = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}
F32_MAX = Fraction(2**128 - 2**104)
F32_OVERFLOW = Fraction(2**128 - 2**103)  # halfway to the next binade: rounds to infinity


# Integers at the edges of the column types, and where a double stops holding every integer.
EDGES = [
    v + d
    for b in (7, 15, 31, 53, 63, 64)
    for v in (2**b, -(2**b))
    for d in (-1, 0, 1)
]


def number(rng):
    """A random JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, and whether it is
    one of the EDGES."""
    if rng.random() < 0.08:
        return str(rng.choice(EDGES)) + rng.choice(["", "", ".0", "e0"]), True
    sign = "-" if rng.random() < 0.4 else ""
    shape = rng.random()
    if shape < 0.15:
        int_part = "0"
    else:
        n = rng.choice([1, 1, 2, 5, 9, 12, 17, 19, 20, 25, 30, 40])
        int_part = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(n - 1))
    frac = ""
    if rng.random() < 0.7:
        n = rng.choice([1, 2, 3, 8, 9, 10, 17, 18, 19, 25])
        digits = "".join(rng.choice("0123456789") for _ in range(n))
        if rng.random() < 0.2:
            digits = digits[:-1] + "5"  # exact halves exercise half-up rounding
        if rng.random() < 0.1:
            digits += "000"  # trailing zeros are kept when they fit
        frac = "." + digits
    exp = ""
    if rng.random() < 0.35:
        e = rng.choice([rng.randint(-30, 30), rng.randint(-400, 400), rng.choice([-324, -45, 38, 39, 308, 309])])
        exp = rng.choice("eE") + rng.choice(["", "+"] if e >= 0 else [""]) + str(e)
    return sign + int_part + frac + exp, False


def plain(d):
    text = format(d, "f")
    return text[1:] if text.startswith("-") and d == 0 else text


def expect_decimal(text, p, s):
    d = CTX.create_decimal(text)
    # Far too large: decided before quantize, which would need a huge context.
    if d != 0 and d.adjusted() + 1 > p - s + 1:
        return {"reject": "overflow"}
    if d.as_tuple().exponent < -s:
        d = d.quantize(decimal.Decimal(1).scaleb(-s), rounding=decimal.ROUND_HALF_UP, context=CTX)
    integer_digits = len(str(abs(int(d)))) if int(d) != 0 else 0
    if integer_digits > p - s:
        return {"reject": "overflow"}
    return {"plain": plain(d)}


def expect_double(text):
    f = float(text)  # correctly rounded
    if f in (float("inf"), float("-inf")):
        return {"reject": "overflow"}
    return {"bits": hex(struct.unpack("<Q", struct.pack("<d", f))[0])}


def f32_from_bits(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]


def expect_float(text):
    exact = Fraction(text)
    if abs(exact) >= F32_OVERFLOW:
        return {"reject": "overflow"}
    if abs(exact) > F32_MAX:
        bits = 0x7F7FFFFF | (0x80000000 if exact < 0 else 0)
        return {"bits": hex(bits)}
    # The nearest f32, ties to even, searched around a first guess (which may be off by one
    # unit through double rounding).
    guess = struct.unpack("<I", struct.pack("<f", float(exact)))[0]
    best = None
    for b in (guess - 1, guess, guess + 1):
        if b < 0 or b > 0xFFFFFFFF or (b & 0x7F800000) == 0x7F800000:
            continue
        v = Fraction(f32_from_bits(b))
        key = (abs(v - exact), b & 1)
        if best is None or key < best[0]:
            best = (key, b)
    bits = best[1]
    if exact == 0 or (bits & 0x7FFFFFFF) == 0:
        bits = 0x80000000 if text.startswith("-") else 0  # a zero keeps its sign
    return {"bits": hex(bits)}


def expect_integer(text, width):
    d = CTX.create_decimal(text)
    if d != d.to_integral_value(context=CTX):
        return {"reject": "not integral"}
    if d != 0 and d.adjusted() > 40:
        return {"reject": "range"}
    n = int(d)
    # MaxCompute's BIGINT stops at -2^63+1 (the service refuses -2^63); the others are full width.
    low = -(2**63) + 1 if width == 64 else -(2 ** (width - 1))
    if not low <= n < 2 ** (width - 1):
        return {"reject": "range"}
    return {"integer": str(n)}


def case(rng):
    text, edge = number(rng)
    kind = rng.random()
    if edge and rng.random() < 0.7:
        kind = 0.8  # an edge integer goes mostly to an integer column, whose range it tests
    if kind < 0.45:
        p, s = rng.choice(DECIMALS)
        return {"text": text, "type": f"decimal({p},{s})", "expect": expect_decimal(text, p, s)}
    if kind < 0.65:
        return {"text": text, "type": "double", "expect": expect_double(text)}
    if kind < 0.8:
        return {"text": text, "type": "float", "expect": expect_float(text)}
    if kind < 0.93:
        name = rng.choice(list(INTEGERS))
        return {"text": text, "type": name, "expect": expect_integer(text, INTEGERS[name])}
    return {"text": text, "type": "string", "expect": {"text": text}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for _ in range(args.count):
        print(json.dumps(case(rng)))


if __name__ == "__main__":
    main()
