# argo-papermill images, two targets built from one wheel:
#   docker build --target server -t argo-papermill-server .   pygeoapi + this plugin under gunicorn
#   docker build --target job    -t argo-papermill-job .      papermill, ipykernel, scrapbook and the
#                                                             `argo_progress` papermill engine
# Both run as a non-root user; see docs/deployment.md.

ARG PYTHON_IMAGE=python:3.12-slim

# ---------------------------------------------------------------------------------------------
# build: one wheel of this package (its entry points included), shared by both targets
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY setup.py pyproject.toml README.md LICENSE ./
COPY argo_papermill ./argo_papermill
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------------------------------------
# server: pygeoapi with the ArgoManager and the execute-notebook processor, served by gunicorn.
# The pygeoapi configuration is mounted at $PYGEOAPI_CONFIG (a ConfigMap); the OpenAPI document
# is generated from it at start into /tmp, so the root filesystem can stay read-only.
FROM ${PYTHON_IMAGE} AS server
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYGEOAPI_CONFIG=/etc/pygeoapi/config.yml \
    PYGEOAPI_OPENAPI=/tmp/pygeoapi/openapi.yml \
    WSGI_APP=argo_papermill.app:APP \
    WSGI_WORKERS=2 \
    WSGI_THREADS=4 \
    WSGI_TIMEOUT=600 \
    PORT=5000 \
    HOME=/home/pygeoapi
RUN useradd --create-home --home-dir /home/pygeoapi --uid 1000 --gid 100 --shell /usr/sbin/nologin pygeoapi
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && python -c "import argo_papermill, pygeoapi, gunicorn"
COPY docker/server-entrypoint.sh /usr/local/bin/argo-papermill-server
RUN chmod 0755 /usr/local/bin/argo-papermill-server
USER 1000:100
WORKDIR /home/pygeoapi
EXPOSE 5000
ENTRYPOINT ["/usr/local/bin/argo-papermill-server"]

# ---------------------------------------------------------------------------------------------
# job: the image of the papermill step. Only what runs in the pod: papermill, a Python kernel,
# scrapbook (and six, which scrapbook imports without declaring it) and this package without its
# server dependencies (`--no-deps`): `argo_papermill.job` imports nothing else, and `import
# argo_papermill` is lazy. git and s3fs let the same image serve the git-checkout and s3-mount
# steps. The build fails unless papermill can load the `argo_progress` engine.
FROM ${PYTHON_IMAGE} AS job
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/jovyan \
    NB_USER=jovyan \
    NB_UID=1000 \
    NB_GID=100
RUN apt-get update \
    && apt-get install -y --no-install-recommends git s3fs ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --home-dir /home/jovyan --uid 1000 --gid 100 --shell /bin/bash jovyan
COPY --from=build /wheels /wheels
# nbconvert: the result-html artifact (result_artifact) is rendered in the job
RUN pip install "papermill>=2.6" "nbformat>=5.9" "nbclient>=0.10" "ipykernel>=6.29" "scrapbook>=0.5" six "nbconvert>=7" \
    && pip install --no-deps /wheels/*.whl \
    && rm -rf /wheels \
    && python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" \
    && python -c "from papermill.engines import papermill_engines; papermill_engines.get_engine('argo_progress')" \
    && python -c "import scrapbook, six" && command -v jupyter-nbconvert
USER 1000:100
WORKDIR /home/jovyan
CMD ["papermill", "--help"]
