"""The operations tests' users (one per role) and their actors, for this app's tests."""

from tests.operations.conftest import _fast_passwords, actors, users  # noqa: F401
