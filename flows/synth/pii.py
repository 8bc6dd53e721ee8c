"""Synthetic PII values (e-mails, US/VN phones, VN citizen ids, IPv4, Luhn-valid cards) for planting in articles."""

from __future__ import annotations

import random
from collections.abc import Callable

from sieve.flows.synth.ascii import ascii_fold

_US_AREA_CODES = ("202", "206", "212", "213", "305", "312", "404", "415", "503", "512", "617", "646", "702", "718")
_VN_MOBILE_PREFIXES = (
    "032", "033", "034", "035", "036", "037", "038", "039", "056", "058", "070", "076", "077", "078",
    "079", "081", "082", "083", "084", "085", "086", "088", "089", "090", "091", "093", "094", "096",
    "097", "098",
)  # fmt: skip
# (area code, subscriber digits): Hà Nội, TP.HCM, Đà Nẵng, Hải Phòng, Cần Thơ.
_VN_LANDLINES = (("024", 8), ("028", 8), ("0236", 7), ("0225", 7), ("0292", 7))
# Province codes of the 12-digit CCCD: Hà Nội, Hải Phòng, Nghệ An, Thanh Hóa, Đà Nẵng, Khánh Hòa, Đồng Nai, TP.HCM, Cần Thơ.
_CCCD_PROVINCES = ("001", "031", "040", "038", "048", "056", "075", "079", "092")
_IP_FIRST_OCTETS = (14, 27, 42, 58, 66, 73, 98, 103, 113, 115, 116, 117, 123, 171, 183, 203, 210)
_MAIL_DOMAINS = {
    "en": ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "protonmail.com"),
    "vi": ("gmail.com", "yahoo.com.vn", "gmail.com", "outlook.com", "fpt.vn", "vnpt.vn"),
}


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def luhn_ok(number: str) -> bool:
    """Whether the digits of `number` (separators ignored) pass the Luhn checksum."""
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _luhn_check_digit(partial: str) -> str:
    return next(d for d in "0123456789" if luhn_ok(partial + d))


def credit_card(rng: random.Random) -> str:
    """A 16-digit Visa or MasterCard number that passes Luhn, grouped by 4 with spaces or dashes."""
    prefix = rng.choice(("4", "4", str(rng.randint(51, 55)), str(rng.randint(2221, 2720))))
    partial = prefix + _digits(rng, 15 - len(prefix))
    number = partial + _luhn_check_digit(partial)
    return rng.choice((" ", "-")).join(number[i : i + 4] for i in range(0, 16, 4))


def phone_us(rng: random.Random) -> str:
    """A US phone number in one of the common written formats."""
    area, exchange, line = rng.choice(_US_AREA_CODES), str(rng.randint(201, 989)), _digits(rng, 4)
    return rng.choice(
        (
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"+1 {area} {exchange} {line}",
            f"{area}.{exchange}.{line}",
        )
    )


def phone_vn(rng: random.Random) -> str:
    """A Vietnamese mobile number (10 digits, or 11 before the 2018 renumbering) in one of the written formats."""
    number = rng.choice(_VN_MOBILE_PREFIXES) + _digits(rng, 7)
    written = rng.choice(
        (
            f"{number[:4]} {number[4:7]} {number[7:]}",
            f"{number[:3]} {number[3:6]} {number[6:]}",
            f"+84 {number[1:4]} {number[4:7]} {number[7:]}",
            f"{number[:4]}.{number[4:7]}.{number[7:]}",
            number,
        )
    )
    # Rarer forms real pages hold, chosen by the last digit rather than by rng, so the random stream (and every other
    # synthetic text) stays as it was: an old 11-digit 01xx mobile, 84 without its plus, underscores, en dashes.
    old = "016" + number[2:]
    return {
        "0": f"{old[:4]} {old[4:7]} {old[7:]}",
        "1": f"84 {number[1:4]} {number[4:7]} {number[7:]}",
        "2": f"{number[:4]}_{number[4:7]}_{number[7:]}",
        "3": f"{number[:4]}–{number[4:7]}–{number[7:]}",
    }.get(number[-1], written)


def landline_vn(rng: random.Random) -> str:
    """A Vietnamese landline, e.g. 028 3822 1234; (04) 3822 1234 with the old Hà Nội / TP.HCM area codes 04 and 08."""
    area, length = rng.choice(_VN_LANDLINES)
    subscriber = rng.choice("23") + _digits(rng, length - 1)
    if area in ("024", "028") and subscriber[-1] in "01":  # picked by a digit, not rng: see phone_vn
        return f"(0{area[2]}) {subscriber[:4]} {subscriber[4:]}"
    return f"{area} {subscriber[:4]} {subscriber[4:]}"


def cccd(rng: random.Random) -> str:
    """A 12-digit CCCD: province code, gender/century digit, birth year (2 digits), 6 random digits."""
    century_gender = rng.choice("0123")
    year = rng.randint(55, 99) if century_gender in "01" else rng.randint(0, 6)
    return f"{rng.choice(_CCCD_PROVINCES)}{century_gender}{year:02d}{_digits(rng, 6)}"


def cmnd(rng: random.Random) -> str:
    """A 9-digit CMND (the older Vietnamese id card)."""
    return "0" + str(rng.randint(1, 9)) + _digits(rng, 7)


def ipv4(rng: random.Random) -> str:
    """A public-looking IPv4 address."""
    return f"{rng.choice(_IP_FIRST_OCTETS)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def email(rng: random.Random, person: str) -> str:
    """An address derived from a person's name, in the style of the name's language."""
    parts = ascii_fold(person).lower().split()
    if len(parts) == 3:  # Vietnamese: family, middle, given
        family, middle, given = parts
        local = rng.choice(
            (f"{given}.{family}", f"{family}{middle}{given}", f"{given}{family[0]}{middle[0]}", f"{family}{given}")
        )
        domains = _MAIL_DOMAINS["vi"]
    else:
        given, family = parts[0], parts[-1]
        local = rng.choice((f"{given}.{family}", f"{given[0]}{family}", f"{given}_{family}", f"{family}.{given[0]}"))
        domains = _MAIL_DOMAINS["en"]
    if rng.random() < 0.4:
        local += str(rng.randint(1, 99))
    return f"{local}@{rng.choice(domains)}"


# Placeholder name -> (truth type, generator). Generators take (rng, person) so e-mails can match names.
GENERATORS: dict[str, tuple[str, Callable[[random.Random, str], str]]] = {
    "email": ("email", email),
    "phone_us": ("phone_us", lambda rng, _: phone_us(rng)),
    "phone_vn": ("phone_vn", lambda rng, _: phone_vn(rng)),
    "landline_vn": ("phone_vn", lambda rng, _: landline_vn(rng)),
    "cccd": ("vn_cccd", lambda rng, _: cccd(rng)),
    "cmnd": ("vn_cmnd", lambda rng, _: cmnd(rng)),
    "ipv4": ("ipv4", lambda rng, _: ipv4(rng)),
    "card": ("credit_card", lambda rng, _: credit_card(rng)),
}


def generate(key: str, rng: random.Random, person: str) -> tuple[str, str]:
    """(truth type, value) for a PII placeholder."""
    pii_type, generator = GENERATORS[key]
    return pii_type, generator(rng, person)
