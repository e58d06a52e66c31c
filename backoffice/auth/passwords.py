"""argon2id password hashing (argon2-cffi's RFC 9106 low-memory profile) and the strength policy (zxcvbn)."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

_hasher = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
# Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

MIN_LENGTH = 8
MAX_CHECKED = 100  # zxcvbn's matching grows with the length; what is past this adds strength, never removes it
# Words anyone guessing at this portal tries first (zxcvbn weighs them like the user's own name).
SITE_WORDS = ("demo", "admin", "hcmc", "tphcm", "hochiminh", "saigon", "covid", "covid19", "backoffice",
              "matkhau", "vietnam", "qr", "2021")


def strength_score(password: str, user_inputs: tuple[str, ...] | list[str] = ()) -> int:
    """zxcvbn's score, 0 (a top-10 password) to 4, counting the user's own words and the site's as guessable."""
    from zxcvbn import zxcvbn
    words = [w for w in (*user_inputs, *SITE_WORDS) if w]
    for word in list(words):  # "Nguyễn Văn An", "mai.dk@example.vn": each part is a guess too
        words += [part for part in word.replace("@", " ").replace(".", " ").split() if len(part) > 2]
    return int(zxcvbn(password[:MAX_CHECKED], user_inputs=words)["score"])


def generate_password() -> str:
    """A one-time password for a new account (the user must change it at first login)."""
    import secrets
    return secrets.token_urlsafe(9)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
