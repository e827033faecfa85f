"""Permissions: rules that allow, deny or ask, and the pending questions asked of the user."""

from pyopencode.permission.requests import DeniedError, Permissions, RejectedError
from pyopencode.permission.ruleset import Rule, evaluate, from_config

__all__ = ["DeniedError", "Permissions", "RejectedError", "Rule", "evaluate", "from_config"]
