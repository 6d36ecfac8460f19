"""Credentials: hashing, tokens, JWT claims and the sign-in rate limiter."""

from __future__ import annotations

import jwt
import pytest

from server.auth import (
    CredentialError,
    RateLimiter,
    check_username,
    colour_for,
    decode_jwt,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_password_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong password")
    assert not verify_password("not a hash", "correct horse battery")


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_password_length_is_checked(password: str) -> None:
    with pytest.raises(CredentialError):
        hash_password(password)


@pytest.mark.parametrize("name", ["a", "has space", "semi;colon", "x" * 41, "émile"])
def test_bad_usernames(name: str) -> None:
    with pytest.raises(CredentialError):
        check_username(name)


def test_tokens_are_random_and_stored_as_digests() -> None:
    a, b = new_token(), new_token()
    assert a != b and len(a) >= 40
    assert token_digest(a) != a and token_digest(a) == token_digest(a)


def test_colours_are_stable() -> None:
    assert colour_for("alice") == colour_for("alice")
    assert colour_for("alice").startswith("#")


def token(**claims: object) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_jwt_accepts_valid_claims() -> None:
    claims = decode_jwt(token(doc="d", role="viewer", name="Ann", exp=2000), SECRET, now=1000)
    assert (claims.doc, claims.role, claims.name) == ("d", "viewer", "Ann")


@pytest.mark.parametrize(
    ("claims", "secret", "message"),
    [
        ({"doc": "d", "role": "editor", "exp": 999}, SECRET, "expired"),
        (
            {"doc": "d", "role": "editor", "exp": 2000},
            "another-secret-that-is-long-enough!!",
            "invalid",
        ),
        ({"doc": "d", "role": "owner", "exp": 2000}, SECRET, "claims"),
        ({"role": "editor", "exp": 2000}, SECRET, "invalid"),
        ({"doc": "d", "role": "editor"}, SECRET, "invalid"),
    ],
)
def test_jwt_refusals(claims: dict[str, object], secret: str, message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        decode_jwt(jwt.encode(claims, secret, algorithm="HS256"), SECRET, now=1000)


def test_jwt_with_none_algorithm_is_refused() -> None:
    unsigned = jwt.encode({"doc": "d", "role": "editor", "exp": 2000}, None, algorithm="none")
    with pytest.raises(CredentialError):
        decode_jwt(unsigned, SECRET, now=1000)


def test_rate_limiter_window() -> None:
    now = [0.0]
    limiter = RateLimiter(3, 60, clock=lambda: now[0])
    assert all(limiter.allow("ip") for _ in range(3))
    assert not limiter.allow("ip")
    assert limiter.allow("other")
    now[0] = 61
    assert limiter.allow("ip")
