"""Shared pytest setup: the --slow switch for long property runs, and a clean environment."""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="run the long property-based and stress variants")


def pytest_configure(config):
    # Tests build their own Settings; a developer's FEEDSVC_* variables must not leak in.
    for name in list(os.environ):
        if name.startswith("FEEDSVC_"):
            del os.environ[name]


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="needs --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
