"""Exceptions that pygeoapi turns into client-visible HTTP errors.

pygeoapi 0.24's execute handler catches only ``ProcessorExecuteError`` (and reads its
``http_status_code``, ``ogc_exception_code`` and ``message``); anything else is a 500.
``argo_papermill.app`` maps the same classes for the job endpoints.
"""

from pygeoapi.process.base import ProcessorExecuteError


class ClientVisibleError(ProcessorExecuteError):
    """An error whose message is meant for the client; subclasses set the status and OGC code."""

    def __init__(self, message: str):
        super().__init__(message, user_msg=message)


class InvalidInputError(ClientVisibleError):
    """A bad execution request: 400, the message names the field and the rule."""

    http_status_code = 400
    ogc_exception_code = "InvalidParameterValue"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class SubmissionRejectedError(ClientVisibleError):
    """Argo or Kubernetes refused the manifest (a 4xx from the API): a client error with its reason."""

    http_status_code = 400
    ogc_exception_code = "InvalidParameterValue"


class BackendUnavailableError(ClientVisibleError):
    """The Kubernetes API / Argo Server could not be reached or timed out: 503."""

    http_status_code = 503
    ogc_exception_code = "ServiceUnavailable"


class BackendForbiddenError(ClientVisibleError):
    """401/403 from the API: the message names the missing permission."""

    http_status_code = 403
    ogc_exception_code = "Forbidden"


class SyncTimeoutError(ClientVisibleError):
    """A sync execution did not finish within ``sync_timeout``; the job keeps running."""

    http_status_code = 504
    ogc_exception_code = "NoApplicableCode"


class ResultForbiddenError(ClientVisibleError):
    """A ``result-file`` scrap points outside the job's own results directory."""

    http_status_code = 403
    ogc_exception_code = "Forbidden"


class ResultNotFoundError(ClientVisibleError):
    """The job's result notebook or result-file is not there (or is not a regular file): 404.

    Not pygeoapi's ``JobResultNotFoundError``: pygeoapi 0.24 maps that one to 500 on ``/results``."""

    http_status_code = 404
    ogc_exception_code = "NoSuchResult"


class ResultTooLargeError(ClientVisibleError):
    """A result larger than ``results.max_bytes``: refused before it is read (422, the limit named)."""

    http_status_code = 422
    ogc_exception_code = "ResultTooLarge"


class ResultInvalidError(ClientVisibleError):
    """The job left a result that can never be served (invalid JSON, unknown scrap encoder): 422, permanent."""

    http_status_code = 422
    ogc_exception_code = "InvalidResult"


class RequestTooLargeError(ClientVisibleError):
    """A request body over ``limits.request_bytes``: 413, refused before it is parsed; nothing created."""

    http_status_code = 413
    ogc_exception_code = "RequestTooLarge"


class SyncBusyError(ClientVisibleError):
    """Every synchronous-execution slot of this server process is waiting (``limits.sync_waits``): 503,
    nothing created; the client may retry or execute asynchronously."""

    http_status_code = 503
    ogc_exception_code = "ServiceUnavailable"


class ConfigurationError(ValueError):
    """A configuration key is unknown or has a bad value; raised at start-up."""


class LogsGoneError(ClientVisibleError):
    """A finished job's pods are gone and its logs were not archived: 404 saying how to keep them."""

    http_status_code = 404
    ogc_exception_code = "NoSuchLogs"
