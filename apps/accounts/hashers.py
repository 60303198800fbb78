"""The password hasher: Argon2id at OWASP's parameters.

OWASP's Password Storage Cheat Sheet recommends Argon2id with 19 MiB of memory, 2 iterations and 1
degree of parallelism as its first choice, and PBKDF2-HMAC-SHA256 only where FIPS forces it (at
600,000 iterations). Argon2id is memory-hard, so a GPU or ASIC attacker pays for 19 MiB per guess,
which PBKDF2's iterations do not impose; at these parameters a login costs this service a small
fraction of the CPU that PBKDF2 with 1,000,000 iterations did (docs/PERFORMANCE.md, "Login").

Django's Argon2PasswordHasher already hashes with Argon2id; its defaults (100 MiB, 8 lanes) are
heavier than OWASP's and would make every login allocate 100 MiB. The parameters are spelled out
here so that they cannot drift with a Django upgrade. Hashes keep Django's `argon2` identifier, and
Django re-hashes a password on the next successful login whenever its stored hash uses another
hasher (the PBKDF2 hashes from before) or other parameters.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB: 19 MiB
    parallelism = 1
