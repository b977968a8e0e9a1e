"""Fixtures of the intel tests: one public PKI and a classifier trusting its root."""

from __future__ import annotations

import pytest

from collector.intel.classify import Classifier
from tests.intel.pki import PKI


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


@pytest.fixture(scope="module")
def classifier(pki: PKI) -> Classifier:
    return Classifier(pki.roots_pem)
