"""Fixtures for the offline checks of k8s/: each rendered overlay, and the services' catalog.

The contract is read from the code itself: ports and commands from ``services.common.catalog``,
metric names from the collectors of ``services.common.metrics``, settings from each service's
``--help``.
"""

from __future__ import annotations

from typing import Any

import pytest
from k8s_manifests import OVERLAYS, Obj, render
from service_settings import declared_settings


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    """Each overlay in turn."""
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> tuple[Obj, ...]:
    """The rendered objects of the overlay under test."""
    return render(overlay)


@pytest.fixture(scope="session")
def catalog() -> Any:
    """``services.common.catalog.SERVICES``: name -> spec with module, ports and gRPC names."""
    from services.common.catalog import SERVICES

    return SERVICES


@pytest.fixture(scope="session")
def declared(catalog: Any) -> dict[str, dict[str, str]]:
    """Service name -> the ANNEAL_* variables it reads, with their defaults (its ``--help``)."""
    return {name: declared_settings(name) for name in catalog}
