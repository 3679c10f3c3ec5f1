"""The ``shims-parity`` pytest plugin (pytest11 entry point); see ``_parity.py``.

It loads in every pytest run of a project that installs the toolkit, so it
imports nothing of ``shims`` until a ``@pytest.mark.parity`` test needs it.
"""

from ._parity import parity as parity
from ._parity import parity_backend as parity_backend
from ._parity import pytest_addoption as pytest_addoption
from ._parity import pytest_collection_finish as pytest_collection_finish
from ._parity import pytest_configure as pytest_configure
from ._parity import pytest_fixture_setup as pytest_fixture_setup
from ._parity import pytest_generate_tests as pytest_generate_tests
from ._parity import pytest_pycollect_makeitem as pytest_pycollect_makeitem
from ._parity import pytest_pyfunc_call as pytest_pyfunc_call
from ._parity import pytest_runtest_setup as pytest_runtest_setup
from ._parity import pytest_runtest_teardown as pytest_runtest_teardown

__all__ = [
    "parity",
    "parity_backend",
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_configure",
    "pytest_fixture_setup",
    "pytest_generate_tests",
    "pytest_pycollect_makeitem",
    "pytest_pyfunc_call",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
]
