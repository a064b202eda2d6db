"""Library warnings are routed to logging and shown only when asked for (driver and workers alike)."""

import logging
import warnings

import pytest

from bmp_ray.cluster import VERBOSE_ENV, route_warnings


@pytest.fixture
def restore_warnings():
    logger = logging.getLogger("py.warnings")
    level = logger.level
    yield
    logging.captureWarnings(False)
    logger.setLevel(level)


@pytest.mark.parametrize("env, shown", [("", False), ("0", False), ("1", True)])
def test_warnings_are_shown_only_when_verbose(env, shown, monkeypatch, caplog, capsys, restore_warnings):
    monkeypatch.setenv(VERBOSE_ENV, env)
    route_warnings()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with caplog.at_level(logging.DEBUG):
            warnings.warn("a library's deprecation", DeprecationWarning)
    assert ("a library's deprecation" in caplog.text) is shown
    assert "deprecation" not in capsys.readouterr().err  # never printed past logging


def test_an_explicit_argument_wins_over_the_environment(monkeypatch, caplog, restore_warnings):
    monkeypatch.setenv(VERBOSE_ENV, "1")
    route_warnings(False)
    assert logging.getLogger("py.warnings").level == logging.ERROR
