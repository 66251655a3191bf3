# syntax=docker/dockerfile:1
# vidsearch-triton-cpu:<version>, overlays/dev only: Triton 24.10 (2.51.0, the version of
# tritonclient and of the tests' tritonserver) plus ONNX Runtime for the CPU twin's
# python-backend model.py. Runs as the image's triton-server user (uid 1000, as the pods do).
#   docker build -f docker/triton-cpu.Dockerfile -t vidsearch-triton-cpu:0.1.0 .
# The base is pinned by its NGC release tag; add a digest where nvcr.io is reachable.

FROM nvcr.io/nvidia/tritonserver:24.10-py3 AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# 1.20.1: the oldest release the orchestrator accepts (onnxruntime>=1.20), with wheels for
# the image's Python 3.10; runs the opset-17 models (exporters/onnx_export.py). Installed
# beside the image's packages, minus numpy: the python backend's stub keeps the image's own.
ARG ONNXRUNTIME_VERSION=1.20.1
RUN python3 -c "import numpy" \
 && python3 -m pip install --target /opt/twin-packages "onnxruntime==${ONNXRUNTIME_VERSION}" \
 && rm -rf /opt/twin-packages/numpy /opt/twin-packages/numpy-* /opt/twin-packages/numpy.libs \
 && PYTHONPATH=/opt/twin-packages python3 -c "import numpy, onnxruntime"

FROM nvcr.io/nvidia/tritonserver:24.10-py3
LABEL org.opencontainers.image.title="vidsearch-triton-cpu" \
      org.opencontainers.image.description="Triton 24.10 + ONNX Runtime for the vidsearch CPU twin"
COPY --from=build /opt/twin-packages /opt/twin-packages
# The python backend's stub runs the image's python3, which reads PYTHONPATH.
ENV PYTHONPATH=/opt/twin-packages
USER 1000:1000
