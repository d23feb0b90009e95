import pytest

from tests.maquette.factories import small_contract


@pytest.fixture
def small(db):  # type: ignore[no-untyped-def]
    return small_contract()
