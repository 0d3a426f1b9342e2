import llmforge


def test_all_exports_resolve() -> None:
    for name in llmforge.__all__:
        assert getattr(llmforge, name) is not None, name


def test_no_private_names_exported() -> None:
    assert all(not name.startswith("_") or name == "__version__" for name in llmforge.__all__)


def test_unknown_attribute() -> None:
    import pytest

    with pytest.raises(AttributeError):
        llmforge.not_a_thing  # noqa: B018
