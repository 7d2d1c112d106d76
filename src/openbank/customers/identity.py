"""Identity data checks: pure functions, no database, no clock of their own.

* PRC resident identity card number, GB 11643-1999: 17 digits (6 region, 8 birth date
  YYYYMMDD, 3 sequence) and a check character from ISO 7064 MOD 11-2.
* Unified social credit code, GB 32100-2015: 17 characters over a 31-character alphabet
  (no I, O, S, V, Z) and a check character, modulus 31.
* PRC mobile phone number: 11 digits starting 1[3-9], with an optional +86.
* Bank card number: 12 to 19 digits passing the Luhn check.

Each check returns the number in its canonical form, or raises the DomainError saying why not.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

from openbank.customers.errors import InvalidCardNumber, InvalidIdNumber, InvalidPhone

# -- PRC resident identity card (GB 11643-1999) ---------------------------------------------

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH_YEAR = 1900


def resident_id_check_char(first17: str) -> str:
    """The check character of the first 17 digits of a resident ID (ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("a resident ID's body is 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def resident_id_birth_date(number: str) -> date:
    """The birth date a (well-formed) resident ID encodes; ValueError if not a real date."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def validate_resident_id(number: str, today: date) -> str:
    """A PRC resident ID, canonical (upper-case X), or InvalidIdNumber."""
    canonical = number.strip().upper()
    if len(canonical) != 18:
        raise InvalidIdNumber("a PRC resident ID has 18 characters")
    body, check = canonical[:17], canonical[17]
    if not body.isascii() or not body.isdigit() or check not in "0123456789X":
        raise InvalidIdNumber("a PRC resident ID is 17 digits and a digit or X")
    try:
        born = resident_id_birth_date(canonical)
    except ValueError:
        raise InvalidIdNumber("the resident ID's birth date is not a calendar date") from None
    if born > today:
        raise InvalidIdNumber("the resident ID's birth date is in the future")
    if born.year < EARLIEST_BIRTH_YEAR:
        raise InvalidIdNumber(f"the resident ID's birth year is before {EARLIEST_BIRTH_YEAR}")
    if resident_id_check_char(body) != check:
        raise InvalidIdNumber("the resident ID's check character does not match")
    return canonical


# -- unified social credit code (GB 32100-2015) ---------------------------------------------

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """The check character of the first 17 characters of a unified social credit code."""
    if len(first17) != 17 or any(c not in CREDIT_CODE_ALPHABET for c in first17):
        raise ValueError("a credit code's body is 17 characters of its alphabet")
    total = sum(
        CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(code: str) -> str:
    """A unified social credit code, canonical (upper case), or InvalidIdNumber."""
    canonical = code.strip().upper()
    if len(canonical) != 18:
        raise InvalidIdNumber("a unified social credit code has 18 characters")
    if any(c not in CREDIT_CODE_ALPHABET for c in canonical):
        raise InvalidIdNumber(
            "a unified social credit code uses only digits and the letters A-H, J-N, P-R, T, U, W-Y"
        )
    if credit_code_check_char(canonical[:17]) != canonical[17]:
        raise InvalidIdNumber("the credit code's check character does not match")
    return canonical


# -- mobile phone ---------------------------------------------------------------------------

_PHONE = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS = re.compile(r"[\s-]")


def validate_mobile_phone(phone: str) -> str:
    """A PRC mobile number in E.164 form (+86 and 11 digits), or InvalidPhone."""
    digits = _SEPARATORS.sub("", phone)
    digits = digits.removeprefix("+86")
    if not _PHONE.fullmatch(digits):
        raise InvalidPhone("a PRC mobile number is 11 digits starting 13 to 19, optionally +86")
    return "+86" + digits


# -- bank card ------------------------------------------------------------------------------

_CARD = re.compile(r"[0-9]{12,19}")


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_card_number(number: str) -> str:
    """A bank card number as its digits, or InvalidCardNumber."""
    digits = _SEPARATORS.sub("", number)
    if not _CARD.fullmatch(digits):
        raise InvalidCardNumber("a bank card number is 12 to 19 digits")
    if not luhn_ok(digits):
        raise InvalidCardNumber("the bank card number fails its check digit (Luhn)")
    return digits


def mask_card_number(digits: str) -> str:
    """First six and last four digits shown, the rest starred: 622202******1234."""
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def card_fingerprint(digits: str) -> bytes:
    """SHA-256 of the card digits: lets a card be recognised without storing its number."""
    return hashlib.sha256(digits.encode()).digest()


def mask_id_number(number: str) -> str:
    """Identity numbers in responses: first six and last four characters shown."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
