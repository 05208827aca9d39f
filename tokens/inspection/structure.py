"""Strict parsing of a JWS compact serialisation, before any key is involved.

Everything here is pure and cheap: it runs on untrusted input, so it refuses early
(size first, then shape) and never follows anything the token says.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

MAX_TOKEN_CHARS = 16 * 1024
MAX_INT_DIGITS = 30  # far beyond any time or count; a 400-digit number only breaks readers

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class StructureError(ValueError):
    """The input is not a well-formed signed JWT; the message is a sentence for people."""


class DuplicateKeyError(ValueError):
    pass


def clean_input(raw: str) -> tuple[str, bool]:
    """Strip whitespace and a pasted `Bearer ` prefix; return (token, had_prefix)."""
    text = raw.strip()
    if text[:7].lower() == "bearer ":
        return text[7:].strip(), True
    return text, False


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class UnusableValueError(ValueError):
    """Valid JSON that no consumer reads the same way: the message says which."""


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise UnusableValueError(f"the number {text[:20]}… is too large for any JSON parser")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise UnusableValueError(
            f"the number {text[:12]}… has {len(text.lstrip('-'))} digits, more than any claim needs"
        )
    return int(text)


def _refuse_lone_surrogates(value: Any) -> None:
    """A `\ud800` escape alone decodes to a string no UTF-8 writer can print (RFC 8259 8.2)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnusableValueError(
                    "a string holds an unpaired UTF-16 surrogate escape (such as \\ud800), "
                    "which is not a character"
                ) from None


def b64url_decode(segment: str, part: str) -> bytes:
    if not _B64URL.fullmatch(segment):
        raise StructureError(
            f"The {part} is not base64url: it contains characters other than A-Z a-z 0-9 - _ "
            "(padding '=' is not allowed in a JWT). Copy the token again without line breaks."
        )
    if len(segment) % 4 == 1:
        raise StructureError(
            f"The {part} has an impossible base64url length; the token was probably cut off "
            "while copying. Copy it again in full."
        )
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as error:
        raise StructureError(f"The {part} is not valid base64url ({error}).") from None
    # One value, one spelling: otherwise a token could be re-spelled without breaking its signature.
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != segment.encode("ascii"):
        raise StructureError(
            f"The {part} is not in canonical base64url form (stray trailing bits)."
        )
    return decoded


def json_object(data: bytes, part: str) -> dict[str, Any]:
    """Decode one JSON object, refusing duplicate keys at any depth and NaN/Infinity."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise StructureError(f"The {part} is not UTF-8 text, so it cannot be JSON.") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
        _refuse_lone_surrogates(value)
    except UnusableValueError as error:
        raise StructureError(
            f"The {part} is refused: {error}. Libraries disagree on such values, so the token "
            "cannot mean the same thing everywhere; ask its issuer."
        ) from None
    except DuplicateKeyError as error:
        raise StructureError(
            f"The {part} names {str(error)!r} twice. Libraries disagree on which value wins, "
            "so a token with duplicate names is refused."
        ) from None
    except (ValueError, RecursionError):
        raise StructureError(f"The {part} is not valid JSON.") from None
    if not isinstance(value, dict):
        raise StructureError(
            f"The {part} is JSON but not an object ({type(value).__name__}); "
            "a JWT needs a JSON object here."
        )
    return value


def split_compact(token: str) -> tuple[str, str, str]:
    if not token.isascii():
        raise StructureError(
            "The token contains non-ASCII characters; a JWT is plain ASCII. "
            "Copy it again from the source, not from a formatted document."
        )
    parts = token.split(".")
    if len(parts) == 5:
        raise StructureError(
            "This has five parts, so it is an encrypted token (JWE). Only signed tokens "
            "(three parts) can be inspected; ask the issuer for a signed access token."
        )
    if len(parts) != 3:
        raise StructureError(
            f"This is not a JWT: a JWT has three parts separated by dots, this has {len(parts)}. "
            "If it is an opaque or refresh token, only its issuer can read it."
        )
    header_b64, claims_b64, signature_b64 = parts
    if not header_b64 or not claims_b64:
        raise StructureError("The header or the claims part is empty, so this is not a JWT.")
    return header_b64, claims_b64, signature_b64


def too_large_message(length: int) -> str:
    return (
        f"The input is {length:,} characters, more than the {MAX_TOKEN_CHARS:,} an access "
        "token may have here; it was refused without being read. Check that you pasted a "
        "single token."
    )
