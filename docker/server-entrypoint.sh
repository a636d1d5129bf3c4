#!/bin/sh
# Start of the server image: pygeoapi reads its configuration and its OpenAPI document at import
# time, so generate the document from the mounted configuration first, then hand over to gunicorn.
# Every value comes from the image's or the Deployment's environment, none from a request.
set -eu
: "${PYGEOAPI_CONFIG:?PYGEOAPI_CONFIG must name the pygeoapi configuration file}"
: "${PYGEOAPI_OPENAPI:?PYGEOAPI_OPENAPI must name where the OpenAPI document goes}"
mkdir -p "$(dirname "$PYGEOAPI_OPENAPI")"
pygeoapi openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI"
exec gunicorn \
    --bind "0.0.0.0:${PORT:-5000}" \
    --workers "${WSGI_WORKERS:-2}" \
    --threads "${WSGI_THREADS:-4}" \
    --timeout "${WSGI_TIMEOUT:-600}" \
    --worker-tmp-dir /dev/shm \
    --access-logfile - \
    "$@" \
    "${WSGI_APP:-argo_papermill.app:APP}"
