"""The signed gateway's cryptography: known answers from the standards, round trips, and
refusals of tampered data and wrong keys."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from gmssl import func, sm2, sm3

from openbank.platform.signed import crypto
from tests.platform.signed.support import rsa_key, rsa_public_b64

# GM/T 0003.5-2012 (GB/T 32918.5) example on the recommended curve, user id 1234567812345678.
SM2_D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
SM2_PUBLIC = (
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
SM2_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
SM2_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
SM2_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
SM2_N = int(sm2.default_ecc_table["n"], 16)


# -- the string to sign ---------------------------------------------------------------------


def test_string_to_sign_sorts_by_name_and_drops_sign_and_empty_values() -> None:
    params = {
        "timestamp": "2026-11-25 10:00:00",
        "app_id": "a",
        "sign": "xyz",
        "encrypt_type": "",
        "biz_content": '{"name":"张三","x":"a&b=c"}',
    }
    assert (
        crypto.canonical_string(params)
        == (
            'app_id=a&biz_content={"name":"张三","x":"a&b=c"}&timestamp=2026-11-25 10:00:00'
        ).encode()
    )


# -- SM3 ------------------------------------------------------------------------------------


def test_sm3_of_abc_is_the_gb_t_32905_example() -> None:
    expected = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert crypto.sm3_hex(b"abc") == expected
    assert sm3.sm3_hash(func.bytes_to_list(b"abc")) == expected  # gmssl's, used inside SM2


def test_sm3_of_the_512_bit_message_is_the_gb_t_32905_example() -> None:
    assert crypto.sm3_hex(b"abcd" * 16) == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


# -- SM4 ------------------------------------------------------------------------------------


def test_sm4_encrypts_the_gb_t_32907_example_block(monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    monkeypatch.setattr(secrets, "token_bytes", bytes)  # IV of zeros
    blob = crypto.sm4_encrypt(key, key)  # plaintext = key, as in the standard
    # With a zero IV, CBC's first block is the block cipher of the first plaintext block.
    assert blob[:16] == bytes(16)
    assert blob[16:32].hex() == "681edf34d206965e86b3e94f536e4246"
    assert len(blob) == 16 + 32  # a whole block of PKCS#7 padding follows


def test_sm4_round_trip_with_a_fresh_iv_each_time() -> None:
    key = crypto.new_encryption_key("SM4")
    first = crypto.encrypt("SM4", key, '{"name":"张三"}')
    second = crypto.encrypt("SM4", key, '{"name":"张三"}')
    assert first != second
    assert crypto.decrypt("SM4", key, first) == '{"name":"张三"}'


def test_sm4_refuses_a_truncated_ciphertext() -> None:
    key = crypto.new_encryption_key("SM4")
    blob = base64.b64decode(crypto.encrypt("SM4", key, "hello"))
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt("SM4", key, base64.b64encode(blob[:-3]).decode())


def test_sm4_with_a_wrong_key_does_not_give_the_plaintext_back() -> None:
    key = crypto.new_encryption_key("SM4")
    ciphertext = crypto.encrypt("SM4", key, '{"amount": 100}')
    # CBC has no integrity of its own (the request signature covers the ciphertext): a wrong
    # key fails on padding or UTF-8 almost always, and never yields the plaintext.
    try:
        plaintext = crypto.decrypt("SM4", crypto.new_encryption_key("SM4"), ciphertext)
    except crypto.DecryptionFailed:
        return
    assert plaintext != '{"amount": 100}'


# -- AES ------------------------------------------------------------------------------------


def test_aes_gcm_round_trip() -> None:
    key = crypto.new_encryption_key("AES")
    assert len(key) == 32
    assert crypto.decrypt("AES", key, crypto.encrypt("AES", key, "支付")) == "支付"


def test_aes_gcm_refuses_a_tampered_ciphertext() -> None:
    key = crypto.new_encryption_key("AES")
    blob = bytearray(base64.b64decode(crypto.encrypt("AES", key, "amount=100")))
    blob[14] ^= 1
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt("AES", key, base64.b64encode(bytes(blob)).decode())


def test_aes_gcm_refuses_a_wrong_key() -> None:
    ciphertext = crypto.encrypt("AES", crypto.new_encryption_key("AES"), "amount=100")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt("AES", crypto.new_encryption_key("AES"), ciphertext)


def test_decrypt_refuses_text_that_is_not_base64() -> None:
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt("AES", crypto.new_encryption_key("AES"), "not base64!")


# -- RSA2 -----------------------------------------------------------------------------------


def test_rsa2_signature_verifies_as_sha256_with_rsa_pkcs1_v15() -> None:
    private_pem, public_b64 = crypto.generate_rsa_key()
    signature = crypto.sign_rsa2(private_pem, b"app_id=1&method=m")
    public = serialization.load_der_public_key(base64.b64decode(public_b64))
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        base64.b64decode(signature), b"app_id=1&method=m", asym_padding.PKCS1v15(), hashes.SHA256()
    )


def test_rsa2_round_trip_with_a_pem_public_key() -> None:
    key = rsa_key()
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    signature = base64.b64encode(
        key.sign(b"data", asym_padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    assert crypto.verify_rsa2(pem, b"data", signature)
    assert crypto.verify_rsa2(rsa_public_b64(key), b"data", signature)


def test_rsa2_refuses_tampered_data() -> None:
    private_pem, public_b64 = crypto.generate_rsa_key()
    signature = crypto.sign_rsa2(private_pem, b"amount=100")
    assert not crypto.verify_rsa2(public_b64, b"amount=900", signature)


def test_rsa2_refuses_another_key() -> None:
    private_pem, _ = crypto.generate_rsa_key()
    _, other_public = crypto.generate_rsa_key()
    assert not crypto.verify_rsa2(other_public, b"x", crypto.sign_rsa2(private_pem, b"x"))


def test_rsa2_refuses_keys_under_2048_bits() -> None:
    with pytest.raises(crypto.InvalidKey):
        crypto.load_rsa_public_key(rsa_public_b64(rsa_key(1024)))


def test_rsa2_verify_of_garbage_is_false_not_an_error() -> None:
    _, public_b64 = crypto.generate_rsa_key()
    assert not crypto.verify_rsa2(public_b64, b"x", "%%%")
    assert not crypto.verify_rsa2("not a key", b"x", "AAAA")


# -- SM2 ------------------------------------------------------------------------------------


def test_sm2_signature_is_the_gm_t_0003_5_example() -> None:
    der = base64.b64decode(crypto.sign_sm2(SM2_D, b"message digest", SM2_PUBLIC, k=SM2_K))
    assert der == encode_dss_signature(SM2_R, SM2_S)
    assert crypto.verify_sm2(SM2_PUBLIC, b"message digest", base64.b64encode(der).decode())


def test_sm2_public_key_of_the_example_private_key() -> None:
    assert crypto._sm2_public_of(SM2_D.lower()) == SM2_PUBLIC


def test_sm2_round_trip_with_a_generated_key() -> None:
    private, public = crypto.generate_sm2_key()
    signature = crypto.sign_sm2(private, "biz_content=中文".encode())
    assert crypto.verify_sm2(public, "biz_content=中文".encode(), signature)
    assert crypto.verify_sm2("04" + public, "biz_content=中文".encode(), signature)


def test_sm2_signatures_differ_each_time() -> None:
    private, _ = crypto.generate_sm2_key()
    assert crypto.sign_sm2(private, b"x") != crypto.sign_sm2(private, b"x")


def test_sm2_refuses_tampered_data() -> None:
    private, public = crypto.generate_sm2_key()
    assert not crypto.verify_sm2(public, b"amount=900", crypto.sign_sm2(private, b"amount=100"))


def test_sm2_refuses_another_key() -> None:
    private, _ = crypto.generate_sm2_key()
    _, other = crypto.generate_sm2_key()
    assert not crypto.verify_sm2(other, b"x", crypto.sign_sm2(private, b"x"))


def test_sm2_refuses_r_or_s_out_of_range() -> None:
    for r, s in ((0, SM2_S), (SM2_R, 0), (SM2_R + SM2_N, SM2_S), (SM2_R, SM2_S + SM2_N)):
        signature = base64.b64encode(encode_dss_signature(r, s)).decode()
        assert not crypto.verify_sm2(SM2_PUBLIC, b"message digest", signature)


def test_sm2_refuses_a_raw_r_s_signature_that_is_not_der() -> None:
    raw = base64.b64encode(SM2_R.to_bytes(32, "big") + SM2_S.to_bytes(32, "big")).decode()
    assert not crypto.verify_sm2(SM2_PUBLIC, b"message digest", raw)


def test_sm2_public_key_must_lie_on_the_curve() -> None:
    off_curve = SM2_PUBLIC[:-1] + ("4" if SM2_PUBLIC[-1] != "4" else "5")
    with pytest.raises(crypto.InvalidKey):
        crypto.sm2_public_key(off_curve)


def test_sm2_public_key_with_leading_zero_and_four_digits_is_kept_whole() -> None:
    # gmssl's own constructor strips any leading '0' and '4' characters from a public key.
    d = next(d for d in range(2, 10_000) if crypto._sm2_public_of(f"{d:064x}").startswith("04"))
    private = f"{d:064x}"
    public = crypto._sm2_public_of(private)
    assert crypto.verify_sm2(public, b"x", crypto.sign_sm2(private, b"x"))


def test_sm2_public_key_must_be_128_hex_digits() -> None:
    for text in ("04", "zz" * 64, SM2_PUBLIC[:-2]):
        with pytest.raises(crypto.InvalidKey):
            crypto.sm2_public_key(text)
