"""The exception classes: one per core code, catchable by kind, safe to pickle and print."""

from __future__ import annotations

import pickle

import pytest

import leasekit
from leasekit import _native, errors


def test_python_knows_exactly_the_core_error_codes_in_order() -> None:
    assert list(errors.CLASSES_BY_CODE) == _native.error_codes()


def test_each_code_maps_to_a_class_carrying_that_code() -> None:
    for code, cls in errors.CLASSES_BY_CODE.items():
        assert cls.code == code
        assert errors.error_class(code) is cls
        assert issubclass(cls, errors.LeaseError)


def test_input_errors_are_value_errors_and_refusals_are_not() -> None:
    input_codes = {code for code in _native.error_codes() if code.startswith("invalid_")}
    input_codes |= {"time_out_of_range", "fence_out_of_range"}
    for code, cls in errors.CLASSES_BY_CODE.items():
        assert issubclass(cls, errors.InvalidInput) == (code in input_codes), code
        assert issubclass(cls, ValueError) == (code in input_codes), code


def test_schema_too_new_is_a_storage_error() -> None:
    assert issubclass(errors.SchemaTooNew, errors.StorageError)
    assert errors.StorageError.code == "storage_failure"


def test_the_package_exports_every_error_class() -> None:
    for cls in [*errors.CLASSES_BY_CODE.values(), errors.LeaseError, errors.InvalidInput]:
        assert getattr(leasekit, cls.__name__) is cls


def test_an_input_error_from_the_core_names_its_field_and_survives_pickling() -> None:
    with pytest.raises(errors.InvalidSessionId) as caught:
        leasekit.rules.acquire(
            leasekit.rules.Record.vacant(),
            owner="alice",
            session_id="tab 1",
            interval_ms=30_000,
            token_digest=leasekit.rules.token_digest("tok-1"),
            now=0,
        )
    error = caught.value
    assert error.field == "session_id"
    assert error.code == "invalid_session_id"
    assert "session_id" in str(error)
    assert "tab 1" in str(error)

    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is errors.InvalidSessionId
    assert (copy.field, str(copy)) == (error.field, str(error))


def test_a_refusal_code_cannot_be_raised_without_its_view() -> None:
    with pytest.raises(KeyError, match="refusal"):
        errors._from_native("lease_held", "scope", "held")
