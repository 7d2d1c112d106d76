"""Signatures and encryption of the signed gateway: pure functions, no database, no clock.

What partners used to Chinese bank open platforms (Alipay, ICBC, CCB...) expect:

* The string to sign: every request parameter except `sign` and those with an empty value,
  sorted by name, joined as `k=v` with `&`, encoded as UTF-8 (Alipay's rule).
* RSA2: SHA256withRSA, PKCS#1 v1.5, keys of at least 2048 bits; public keys as PEM or as the
  bare base64 of the DER SubjectPublicKeyInfo (what Alipay's console shows). Signatures are
  base64.
* SM2: GM/T 0003 signatures over SM3(Z || message), Z with the default user id
  "1234567812345678" (GM/T 0009); keys in hex (private: 64 hex digits, public: 128, or 130
  with the leading 04). Signatures are the base64 of the DER SEQUENCE {r, s} (what
  BouncyCastle's SM3withSM2 produces). The curve arithmetic is gmssl's (pure Python), with
  three of its gaps closed here: the per-signature random k comes from `secrets` (gmssl's
  `random_hex` uses `random`), r and s are range-checked before verifying, and public keys
  must lie on the curve (gmssl checks neither).
* SM4: SM4-CBC (GB/T 32907), PKCS#7 padding, a random 16-byte IV prepended to the ciphertext.
  OpenSSL's SM4 through `cryptography`.
* AES: AES-256-GCM, a random 12-byte nonce prepended and the 16-byte tag appended. Alipay's
  `encrypt_type=AES` is AES-128-CBC with a zero IV and no integrity; an authenticated cipher
  with a fresh nonce is what the bank accepts instead (the partner's SDK needs a 32-byte key
  and GCM, both in every platform's standard library).

Ciphertexts travel as base64.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from typing import Literal

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from gmssl import sm2

SignType = Literal["RSA2", "SM2"]
EncryptType = Literal["AES", "SM4"]
SIGN_TYPES: tuple[SignType, ...] = ("RSA2", "SM2")
ENCRYPT_TYPES: tuple[EncryptType, ...] = ("AES", "SM4")

MIN_RSA_BITS = 2048
SM2_DEFAULT_USER_ID = "1234567812345678"  # GM/T 0009; gmssl's Z value hard-codes it
KEY_BYTES: dict[EncryptType, int] = {"AES": 32, "SM4": 16}

_CURVE = sm2.default_ecc_table
_P = int(_CURVE["p"], 16)
_N = int(_CURVE["n"], 16)
_A = int(_CURVE["a"], 16)
_B = int(_CURVE["b"], 16)
_HEX = frozenset("0123456789abcdefABCDEF")


class InvalidKey(ValueError):
    """A key that does not parse, is too short, or is not on the curve."""


class DecryptionFailed(ValueError):
    """Ciphertext that is not base64, was tampered with, or was made with another key."""


# -- the string to sign ---------------------------------------------------------------------


def canonical_string(params: Mapping[str, str]) -> bytes:
    """Every parameter but `sign` and the empty ones, sorted by name, as k=v joined by &."""
    pairs = sorted((k, v) for k, v in params.items() if k != "sign" and v != "")
    return "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc


# -- SM3 ------------------------------------------------------------------------------------


def sm3_hex(data: bytes) -> str:
    """SM3 (GB/T 32905) of `data`, in hex."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


# -- RSA2 -----------------------------------------------------------------------------------


def load_rsa_public_key(text: str) -> rsa.RSAPublicKey:
    """A PEM public key, or the bare base64 of its DER (Alipay's console), ≥ 2048 bits."""
    raw = text.strip()
    try:
        if raw.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(raw.encode())
        else:
            key = serialization.load_der_public_key(_b64decode("".join(raw.split())))
    except (ValueError, TypeError) as exc:
        raise InvalidKey("the RSA public key is neither PEM nor base64 DER") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidKey("the public key is not an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise InvalidKey(f"RSA2 keys have at least {MIN_RSA_BITS} bits; this one {key.key_size}")
    return key


def rsa_public_key_b64(key: rsa.RSAPublicKey) -> str:
    """The base64 DER SubjectPublicKeyInfo (one line, no PEM armour)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def generate_rsa_key() -> tuple[str, str]:
    """A new 2048-bit key pair: (private key PEM, public key base64 DER)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, rsa_public_key_b64(key.public_key())


def load_rsa_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidKey("not an RSA private key")
    return key


def sign_rsa2(private_key_pem: str, data: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5) of `data`, base64."""
    key = load_rsa_private_key(private_key_pem)
    return base64.b64encode(key.sign(data, asym_padding.PKCS1v15(), hashes.SHA256())).decode()


def verify_rsa2(public_key: str, data: bytes, signature: str) -> bool:
    """Whether `signature` (base64) is the key's SHA256withRSA of `data`; never raises."""
    try:
        key = load_rsa_public_key(public_key)
        key.verify(_b64decode(signature), data, asym_padding.PKCS1v15(), hashes.SHA256())
    except (InvalidKey, InvalidSignature, ValueError):
        return False
    return True


# -- SM2 ------------------------------------------------------------------------------------


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < _P and 0 <= y < _P and (y * y - (x * x * x + _A * x + _B)) % _P == 0


def sm2_public_key(text: str) -> str:
    """The 128 hex digits x||y of an SM2 public key given as hex (with or without the 04
    prefix of an uncompressed point), if the point lies on the SM2 curve."""
    raw = "".join(text.split()).lower()
    if len(raw) == 130 and raw.startswith("04"):
        raw = raw[2:]
    if len(raw) != 128 or not set(raw) <= _HEX:
        raise InvalidKey("an SM2 public key is 128 hex digits (x||y), or 130 starting 04")
    if not _on_curve(int(raw[:64], 16), int(raw[64:], 16)):
        raise InvalidKey("the SM2 public key is not a point on the SM2 curve")
    return raw


def _crypt(private_key: str, public_key: str) -> sm2.CryptSM2:
    crypt = sm2.CryptSM2(private_key=private_key, public_key="")
    # Set after construction: gmssl's constructor lstrip("04")s keys, eating leading digits.
    crypt.public_key = public_key
    return crypt


def _sm2_public_of(private_key: str) -> str:
    point: str = _crypt(private_key, "")._kg(int(private_key, 16), _CURVE["g"])
    return point


def generate_sm2_key() -> tuple[str, str]:
    """A new key pair: (private key, 64 hex digits; public key, 128 hex digits x||y)."""
    d = secrets.randbelow(_N - 2) + 1  # 1 <= d <= n - 2 (GM/T 0003.1)
    private_key = f"{d:064x}"
    return private_key, _sm2_public_of(private_key)


def sign_sm2(
    private_key: str, data: bytes, public_key: str | None = None, k: int | None = None
) -> str:
    """SM3withSM2 of `data` with the default user id, as base64 DER. The public key enters
    the digest (Z); given, it saves deriving it. `k` only for the standard's known-answer
    test; otherwise a fresh secret per signature."""
    crypt = _crypt(private_key, public_key or _sm2_public_of(private_key))
    while True:
        nonce = k if k is not None else secrets.randbelow(_N - 1) + 1
        signed = crypt.sign_with_sm3(data, f"{nonce:064x}")
        if signed is not None:  # r = 0 or r + k = n: draw again (GM/T 0003.2 6.1 A3)
            break
        if k is not None:
            raise ValueError("this k gives no signature")
    r, s = int(signed[:64], 16), int(signed[64:], 16)
    return base64.b64encode(encode_dss_signature(r, s)).decode()


def verify_sm2(public_key: str, data: bytes, signature: str) -> bool:
    """Whether `signature` (base64 DER {r, s}) is the key's SM3withSM2 of `data`."""
    try:
        key = sm2_public_key(public_key)
        der = _b64decode(signature)
        r, s = decode_dss_signature(der)
        if encode_dss_signature(r, s) != der:  # one encoding only (strict DER)
            return False
    except (InvalidKey, ValueError):
        return False
    if not (1 <= r < _N and 1 <= s < _N):
        return False
    try:
        return bool(_crypt("", key).verify_with_sm3(f"{r:064x}{s:064x}", data))
    except (ValueError, TypeError):  # a point at infinity on the way: not a signature
        return False


def sign(sign_type: SignType, private_key: str, data: bytes, public_key: str | None = None) -> str:
    """RSA2 with a PEM private key, or SM2 with a hex one (and its public key, if known)."""
    if sign_type == "RSA2":
        return sign_rsa2(private_key, data)
    return sign_sm2(private_key, data, public_key)


def verify(sign_type: SignType, public_key: str, data: bytes, signature: str) -> bool:
    if sign_type == "RSA2":
        return verify_rsa2(public_key, data, signature)
    return verify_sm2(public_key, data, signature)


# -- SM4 and AES ----------------------------------------------------------------------------


def new_encryption_key(encrypt_type: EncryptType) -> bytes:
    return secrets.token_bytes(KEY_BYTES[encrypt_type])


def sm4_encrypt(key: bytes, plaintext: bytes) -> bytes:
    """IV || SM4-CBC(PKCS#7(plaintext))."""
    iv = secrets.token_bytes(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


def sm4_decrypt(key: bytes, blob: bytes) -> bytes:
    if len(blob) < 32 or len(blob) % 16:
        raise DecryptionFailed("SM4-CBC ciphertext is a 16-byte IV and whole blocks")
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(blob[:16])).decryptor()
    padded = decryptor.update(blob[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionFailed("bad padding: wrong key or tampered ciphertext") from exc


def aes_encrypt(key: bytes, plaintext: bytes) -> bytes:
    """nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes)."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, None)


def aes_decrypt(key: bytes, blob: bytes) -> bytes:
    if len(blob) < 12 + 16:
        raise DecryptionFailed("AES-GCM ciphertext is a 12-byte nonce, data and a 16-byte tag")
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], None)
    except InvalidTag as exc:
        raise DecryptionFailed("the tag does not verify: wrong key or tampered") from exc


def encrypt(encrypt_type: EncryptType, key: bytes, plaintext: str) -> str:
    """base64 of the ciphertext of the UTF-8 text."""
    data = plaintext.encode("utf-8")
    blob = aes_encrypt(key, data) if encrypt_type == "AES" else sm4_encrypt(key, data)
    return base64.b64encode(blob).decode()


def decrypt(encrypt_type: EncryptType, key: bytes, ciphertext: str) -> str:
    """The UTF-8 text of a base64 ciphertext, or DecryptionFailed."""
    try:
        blob = _b64decode(ciphertext)
    except ValueError as exc:
        raise DecryptionFailed("the ciphertext is not base64") from exc
    data = aes_decrypt(key, blob) if encrypt_type == "AES" else sm4_decrypt(key, blob)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptionFailed("the plaintext is not UTF-8") from exc
