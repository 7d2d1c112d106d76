"""Identity checks: resident IDs, credit codes, mobile phones and bank cards."""

from __future__ import annotations

from datetime import date

import pytest

from openbank.customers import identity
from openbank.customers.errors import InvalidCardNumber, InvalidIdNumber, InvalidPhone
from tests.customers.helpers import credit_check, luhn_digit, resident_check

TODAY = date(2026, 6, 1)


# -- PRC resident ID --------------------------------------------------------------------------


def test_resident_id_from_the_standard_is_valid() -> None:
    assert identity.validate_resident_id("11010519491231002X", TODAY) == "11010519491231002X"


def test_resident_id_with_lower_case_x_is_made_upper_case() -> None:
    assert identity.validate_resident_id("11010519491231002x", TODAY) == "11010519491231002X"


def test_resident_id_check_char_follows_iso_7064_mod_11_2() -> None:
    assert identity.resident_id_check_char("11010519491231002") == "X"
    assert identity.resident_id_check_char("44052418800101001") == "4"


@pytest.mark.parametrize(
    "number",
    ["11010519491231002", "11010519491231002X1", ""],
    ids=["17 chars", "19 chars", "empty"],
)
def test_resident_id_of_wrong_length_is_refused(number: str) -> None:
    with pytest.raises(InvalidIdNumber, match="18 characters"):
        identity.validate_resident_id(number, TODAY)


@pytest.mark.parametrize(
    "number",
    [
        "1101051949123100XX",
        "A10105194912310021",
        "11010519491231002Y",
        "１１０１０５１９４９１２３１００２Ｘ",
    ],
)
def test_resident_id_with_a_non_digit_is_refused(number: str) -> None:
    with pytest.raises(InvalidIdNumber):
        identity.validate_resident_id(number, TODAY)


def test_resident_id_with_a_wrong_check_char_is_refused() -> None:
    with pytest.raises(InvalidIdNumber, match="check character"):
        identity.validate_resident_id("110105194912310021", TODAY)


@pytest.mark.parametrize("birth", ["19490231", "19491301", "19490001", "20230229"])
def test_resident_id_whose_birth_date_is_not_a_calendar_date_is_refused(birth: str) -> None:
    body = f"110105{birth}002"
    with pytest.raises(InvalidIdNumber, match="calendar date"):
        identity.validate_resident_id(body + resident_check(body), TODAY)


def test_resident_id_born_on_29_february_of_a_leap_year_is_valid() -> None:
    body = "11010520240229002"
    assert identity.validate_resident_id(body + resident_check(body), TODAY)


def test_resident_id_born_tomorrow_is_refused_and_born_today_is_valid() -> None:
    today = f"110105{TODAY:%Y%m%d}002"
    tomorrow = f"110105{TODAY.replace(day=2):%Y%m%d}002"
    assert identity.validate_resident_id(today + resident_check(today), TODAY)
    with pytest.raises(InvalidIdNumber, match="future"):
        identity.validate_resident_id(tomorrow + resident_check(tomorrow), TODAY)


def test_resident_id_born_before_1900_is_refused() -> None:
    body = "11010518991231002"
    with pytest.raises(InvalidIdNumber, match="1900"):
        identity.validate_resident_id(body + resident_check(body), TODAY)


# -- unified social credit code ---------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["91330100799655058B", "9144030071526726XG", "91110000802100433B", "91350100M000100Y43"]
)
def test_published_credit_codes_are_valid(code: str) -> None:
    assert identity.validate_credit_code(code) == code


def test_credit_code_is_made_upper_case() -> None:
    assert identity.validate_credit_code("9144030071526726xg") == "9144030071526726XG"


def test_credit_code_whose_check_is_31_uses_zero() -> None:
    # Search a body whose weighted sum is a multiple of 31: its check character is "0".
    body = next(
        b for b in (f"9111000000000{n:04d}" for n in range(10000)) if credit_check(b) == "0"
    )
    assert identity.credit_code_check_char(body) == "0"
    assert identity.validate_credit_code(body + "0")


def test_credit_code_with_a_wrong_check_char_is_refused() -> None:
    with pytest.raises(InvalidIdNumber, match="check character"):
        identity.validate_credit_code("91330100799655058C")


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_credit_code_with_a_letter_outside_its_alphabet_is_refused(letter: str) -> None:
    with pytest.raises(InvalidIdNumber, match="letters"):
        identity.validate_credit_code(f"9133010079965505{letter}B")


def test_credit_code_of_wrong_length_is_refused() -> None:
    with pytest.raises(InvalidIdNumber, match="18 characters"):
        identity.validate_credit_code("91330100799655058")


# -- mobile phone -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone", ["13800138000", "+8613800138000", "+86 138 0013 8000", "199-0013-8000"]
)
def test_mobile_phone_is_stored_in_e164(phone: str) -> None:
    assert identity.validate_mobile_phone(phone).startswith("+861")
    assert len(identity.validate_mobile_phone(phone)) == 14


@pytest.mark.parametrize(
    "phone",
    ["12800138000", "1380013800", "138001380001", "+8513800138000", "0138001380", "1380013800a"],
)
def test_mobile_phone_that_is_not_a_prc_mobile_is_refused(phone: str) -> None:
    with pytest.raises(InvalidPhone):
        identity.validate_mobile_phone(phone)


# -- bank card --------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["62220202001", "622202020011223", "622202020011223344"])
def test_card_numbers_of_12_to_19_digits_passing_luhn_are_valid(payload: str) -> None:
    number = payload + luhn_digit(payload)
    assert identity.validate_card_number(number) == number


def test_card_number_failing_luhn_is_refused() -> None:
    payload = "622202020011223"
    wrong = str((int(luhn_digit(payload)) + 1) % 10)
    with pytest.raises(InvalidCardNumber, match="Luhn"):
        identity.validate_card_number(payload + wrong)


@pytest.mark.parametrize("number", ["62220202000", "62220202001122334455", "6222020200112233a", ""])
def test_card_number_that_is_not_12_to_19_digits_is_refused(number: str) -> None:
    with pytest.raises(InvalidCardNumber, match="12 to 19"):
        identity.validate_card_number(number)


def test_card_number_is_masked_to_first_six_and_last_four() -> None:
    assert identity.mask_card_number("6222020200112233") == "622202******2233"


def test_card_fingerprint_is_the_sha256_of_the_digits() -> None:
    assert identity.card_fingerprint("4111111111111111").hex() == (
        "9bbef19476623ca56c17da75fd57734dbf82530686043a6e491c6d71befe8f6e"
    )
