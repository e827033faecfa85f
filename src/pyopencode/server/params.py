"""The bounded path and query parameter types every route module shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# Ids are 30 characters; anything this long is not one, and a bound keeps lookups cheap.
MAX_ID = 128
# What `?directory=` and path filters may hold.
MAX_PATH = 4096

SessionID = Annotated[str, Path(pattern=r"^ses", max_length=MAX_ID)]
MessageID = Annotated[str, Path(pattern=r"^msg", max_length=MAX_ID)]
PartID = Annotated[str, Path(pattern=r"^prt", max_length=MAX_ID)]
RequestID = Annotated[str, Path(max_length=MAX_ID)]
# An optional message id in the query string (`messageID`, `before`).
MessageQuery = Annotated[str | None, Query(pattern=r"^msg", max_length=MAX_ID)]
