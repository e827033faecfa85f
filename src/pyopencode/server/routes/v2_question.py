"""`/api/question/request` (v2): the questions pending at a location, as `QuestionV2Request`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode import question
from pyopencode.server.json import JsonRoute
from pyopencode.server.routes.tui import Location, _listing
from pyopencode.server.state import AppState

router = APIRouter(prefix="/api", tags=["v2"], route_class=JsonRoute)


@router.get(
    "/question/request",
    operation_id="v2.question.request.list",
    description="Retrieve pending question requests for a location.",
)
async def list_requests(state: AppState, instance: Location) -> Response:
    return _listing(instance, question.service(state.sessions).requests_v2(instance.directory))
