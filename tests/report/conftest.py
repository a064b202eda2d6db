import pytest

from tests.export.runs import small_run as _small_run


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, shared_data, test_weights):
    return _small_run(tmp_path_factory.getbasetemp(), shared_data, test_weights)
