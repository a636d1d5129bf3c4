"""Exceptions that pygeoapi turns into client-visible HTTP errors.

pygeoapi 0.24's execute handler catches only ``ProcessorExecuteError`` (and reads its
``http_status_code``, ``ogc_exception_code`` and ``message``); anything else is a 500.
"""

from pygeoapi.process.base import ProcessorExecuteError


class InvalidInputError(ProcessorExecuteError):
    """A bad execution request: 400, the message names the field and the rule."""

    http_status_code = 400
    ogc_exception_code = "InvalidParameterValue"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, user_msg=message)
        self.field = field


class SubmissionRejectedError(ProcessorExecuteError):
    """Argo or Kubernetes refused the manifest (a 4xx from the API): a client error with its reason."""

    http_status_code = 400
    ogc_exception_code = "InvalidParameterValue"

    def __init__(self, message: str):
        super().__init__(message, user_msg=message)


class BackendUnavailableError(ProcessorExecuteError):
    """The Kubernetes API / Argo Server could not be reached or timed out: 503."""

    http_status_code = 503
    ogc_exception_code = "ServiceUnavailable"

    def __init__(self, message: str):
        super().__init__(message, user_msg=message)


class BackendForbiddenError(ProcessorExecuteError):
    """401/403 from the API: the message names the missing permission."""

    http_status_code = 403
    ogc_exception_code = "Forbidden"

    def __init__(self, message: str):
        super().__init__(message, user_msg=message)


class ConfigurationError(ValueError):
    """A configuration key is unknown or has a bad value; raised at start-up."""
