"""Joining Ray: a cluster by address (``ray://head:10001``), or a small local Ray of our own."""

from __future__ import annotations

import tempfile

import ray


def connect_ray(address: str = "", local_cpus: int | None = None) -> None:
    """Connects to the Ray cluster at ``address``, or starts a local one when it is empty.

    A local Ray gets ``local_cpus`` CPUs (None: all), no dashboard, and a short temporary folder
    (Ray's socket paths must stay under the OS limit); its workers log to files, not to us.
    """
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address)
        return
    ray.init(
        num_cpus=local_cpus,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=tempfile.mkdtemp(prefix="ray-", dir="/tmp"),
    )
