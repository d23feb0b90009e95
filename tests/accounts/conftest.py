from tests.operations.conftest import _fast_passwords, actors, users  # noqa: F401
