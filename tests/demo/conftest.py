from tests.operations.conftest import _fast_passwords  # noqa: F401
