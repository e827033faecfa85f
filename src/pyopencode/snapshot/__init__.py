"""Snapshots of a project's files in a shadow git repository, for diff, revert and unrevert."""

from pyopencode.snapshot.shadow import Patch, ShadowRepo, SnapshotError

__all__ = ["Patch", "ShadowRepo", "SnapshotError"]
