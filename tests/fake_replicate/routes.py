"""The fake's HTTP surface: Replicate's `/v1` API and the delivery host's files."""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fake_replicate import images
from tests.fake_replicate.records import FailureRule, JobKind, Problem

if TYPE_CHECKING:
    from tests.fake_replicate.fake import FakeReplicate

Handler = Callable[["FakeReplicate", Request], Awaitable[Response]]
RECORDED_HEADERS = ("authorization", "content-type", "prefer", "user-agent")
MAX_PREFER_WAIT_SECONDS = 60
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")


def build_app(fake: "FakeReplicate") -> Starlette:
    def api(path: str, handler: Handler, method: str, *, auth: bool = True) -> Route:
        async def endpoint(request: Request) -> Response:
            return await _answer(fake, request, handler, auth)

        return Route(path, endpoint, methods=[method])

    return Starlette(
        routes=[
            api("/v1/models", create_model, "POST"),
            api("/v1/models/{owner}/{name}", get_model, "GET"),
            api("/v1/models/{owner}/{name}", delete_model, "DELETE"),
            api("/v1/models/{owner}/{name}/versions", list_versions, "GET"),
            api("/v1/models/{owner}/{name}/versions/{version}", get_version, "GET"),
            api("/v1/models/{owner}/{name}/versions/{version}", delete_version, "DELETE"),
            api("/v1/models/{owner}/{name}/versions/{version}/trainings", create_training, "POST"),
            api("/v1/files", upload_file, "POST"),
            api("/v1/files", list_files, "GET"),
            api("/v1/files/{file_id}", get_file, "GET"),
            api("/v1/files/{file_id}", delete_file, "DELETE"),
            api("/v1/trainings", list_trainings, "GET"),
            api("/v1/trainings/{job_id}", get_training, "GET"),
            api("/v1/trainings/{job_id}/cancel", cancel_training, "POST"),
            api("/v1/predictions", create_prediction, "POST"),
            api("/v1/predictions", list_predictions, "GET"),
            api("/v1/predictions/{job_id}", get_prediction, "GET"),
            api("/v1/predictions/{job_id}/cancel", cancel_prediction, "POST"),
            api("/v1/webhooks/default/secret", webhook_secret, "GET"),
            api("/delivery/weights/{job_id}.tar", weights, "GET", auth=False),
            api("/delivery/{job_id}/{filename}", output_file, "GET", auth=False),
            *(api("/{path:path}", not_found, method) for method in ANY_METHOD),
        ]
    )


async def _answer(
    fake: "FakeReplicate", request: Request, handler: Handler, auth: bool
) -> Response:
    record = fake._record(request.method, request.url.path, dict(request.query_params))
    record.headers = {
        key: request.headers[key] for key in RECORDED_HEADERS if key in request.headers
    }
    record.json = await _json_or_none(request)
    try:
        response = await _guarded(fake, request, handler, auth)
    except Problem as problem:
        response = problem.response()
    record.status = response.status_code
    fake._changed()
    return response


async def _guarded(
    fake: "FakeReplicate", request: Request, handler: Handler, auth: bool
) -> Response:
    failure = fake._take_failure(request.method, request.url.path)
    if failure is not None:
        return await _fail(fake, request, handler, failure)
    if auth and request.headers.get("authorization") != f"Bearer {fake.token}":
        raise Problem(401, "Unauthenticated", "You did not pass a valid authentication token")
    return await handler(fake, request)


async def _fail(
    fake: "FakeReplicate", request: Request, handler: Handler, failure: FailureRule
) -> Response:
    """Answers `failure.status`, after processing the request when the rule says so."""
    if failure.process:
        with contextlib.suppress(Problem):
            await handler(fake, request)
    if failure.delay:
        await asyncio.sleep(failure.delay)
    headers = {}
    if failure.retry_after is not None:
        headers["Retry-After"] = f"{failure.retry_after:g}"
    if failure.status == 429:
        detail = failure.detail or "Request was throttled. Expected available in 1 second."
        raise Problem(429, "Too Many Requests", detail, headers=headers)
    title = HTTPStatus(failure.status).phrase
    detail = failure.detail or "A failure injected by the test"
    raise Problem(failure.status, title, detail, headers=headers)


async def _json_or_none(request: Request) -> Any:
    if "json" not in request.headers.get("content-type", ""):
        return None
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise Problem(400, "Bad request", "The request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise Problem(400, "Bad request", "The request body must be a JSON object")
    return body


async def not_found(fake: "FakeReplicate", request: Request) -> Response:
    raise Problem(404, "Not found", f"The fake has no {request.method} {request.url.path}")


def _created(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=201)


def _deleted() -> Response:
    return Response(status_code=204)


# Models and versions


async def create_model(fake: "FakeReplicate", request: Request) -> Response:
    model = fake.create_model(await _json_object(request))
    return _created(fake.model_json(model))


async def get_model(fake: "FakeReplicate", request: Request) -> Response:
    params = request.path_params
    return JSONResponse(fake.model_json(fake.get_model(params["owner"], params["name"])))


async def delete_model(fake: "FakeReplicate", request: Request) -> Response:
    await fake._delete_answered()
    fake.delete_model_named(request.path_params["owner"], request.path_params["name"])
    return _deleted()


async def list_versions(fake: "FakeReplicate", request: Request) -> Response:
    params = request.path_params
    cursor = request.query_params.get("cursor")
    return JSONResponse(fake.version_page(params["owner"], params["name"], cursor))


async def get_version(fake: "FakeReplicate", request: Request) -> Response:
    params = request.path_params
    version = fake.get_version(params["owner"], params["name"], params["version"])
    return JSONResponse(fake.version_json(version))


async def delete_version(fake: "FakeReplicate", request: Request) -> Response:
    await fake._delete_answered()
    params = request.path_params
    fake.delete_version_of(params["owner"], params["name"], params["version"])
    return _deleted()


async def webhook_secret(fake: "FakeReplicate", request: Request) -> Response:
    return JSONResponse({"key": fake.webhook_secret})


# Files


async def upload_file(fake: "FakeReplicate", request: Request) -> Response:
    async with request.form() as form:
        content = form.get("content")
        if not isinstance(content, UploadFile):
            raise Problem(400, "Bad request", "Missing the 'content' file part")
        data = await content.read()
        name = str(form.get("filename") or content.filename or "file")
        content_type = str(form.get("type") or content.content_type or "application/octet-stream")
        metadata = _metadata(form.get("metadata"))
    stored = fake.store_file(data, name, content_type, metadata)
    return _created(stored.to_json(fake.origin))


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        metadata = json.loads(str(value))
    except ValueError as exc:
        raise Problem(422, "Invalid metadata", "metadata must be a JSON object") from exc
    if not isinstance(metadata, dict):
        raise Problem(422, "Invalid metadata", "metadata must be a JSON object")
    return metadata


async def get_file(fake: "FakeReplicate", request: Request) -> Response:
    return JSONResponse(fake.get_file(request.path_params["file_id"]).to_json(fake.origin))


async def list_files(fake: "FakeReplicate", request: Request) -> Response:
    return JSONResponse(fake.file_page(request.query_params.get("cursor")))


async def delete_file(fake: "FakeReplicate", request: Request) -> Response:
    await fake._delete_answered()
    fake.delete_file(request.path_params["file_id"])
    return _deleted()


# Trainings and predictions


async def create_training(fake: "FakeReplicate", request: Request) -> Response:
    params = request.path_params
    body = await _json_object(request)
    job = fake.create_training(params["owner"], params["name"], params["version"], body)
    return _created(job.to_json(fake.origin))


async def create_prediction(fake: "FakeReplicate", request: Request) -> Response:
    job = fake.create_prediction(await _json_object(request))
    wait = _prefer_wait(request.headers.get("prefer", ""))
    if wait:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.done.wait(), wait)
    return _created(job.to_json(fake.origin))


def _prefer_wait(prefer: str) -> float:
    """`Prefer: wait` (60 s) or `wait=N`; 0 without it."""
    for part in prefer.split(","):
        key, _, value = part.strip().partition("=")
        if key == "wait":
            seconds = int(value) if value.isdigit() else MAX_PREFER_WAIT_SECONDS
            return float(min(seconds, MAX_PREFER_WAIT_SECONDS))
    return 0.0


def _job_getter(kind: JobKind) -> Handler:
    async def get_job(fake: "FakeReplicate", request: Request) -> Response:
        return JSONResponse(fake.get_job(kind, request.path_params["job_id"]).to_json(fake.origin))

    return get_job


def _job_canceller(kind: JobKind) -> Handler:
    async def cancel_job(fake: "FakeReplicate", request: Request) -> Response:
        job = fake.cancel_job(kind, request.path_params["job_id"])
        return JSONResponse(job.to_json(fake.origin))

    return cancel_job


def _job_lister(kind: JobKind) -> Handler:
    async def list_jobs(fake: "FakeReplicate", request: Request) -> Response:
        return JSONResponse(fake.page(kind, request.query_params.get("cursor")))

    return list_jobs


get_training = _job_getter("training")
get_prediction = _job_getter("prediction")
cancel_training = _job_canceller("training")
cancel_prediction = _job_canceller("prediction")
list_trainings = _job_lister("training")
list_predictions = _job_lister("prediction")


# The delivery host (replicate.delivery): public, unauthenticated


async def output_file(fake: "FakeReplicate", request: Request) -> Response:
    await fake._output_answered()
    job = fake.jobs.get(request.path_params["job_id"])
    if job is None or job.kind != "prediction" or not isinstance(job.output, list):
        raise Problem(404, "Not found", "No such file")
    url = f"{fake.origin}{request.url.path}"
    if url not in job.output:
        raise Problem(404, "Not found", "No such file")
    index = job.output.index(url)
    _, media_type = images.FORMATS[images.extension(job.input)]
    return Response(images.render_output(job.id, index, job.input), media_type=media_type)


async def weights(fake: "FakeReplicate", request: Request) -> Response:
    job = fake.jobs.get(request.path_params["job_id"])
    if job is None or job.kind != "training" or job.status != "succeeded":
        raise Problem(404, "Not found", "No such file")
    return Response(images.weights_tar(job.id), media_type="application/x-tar")
