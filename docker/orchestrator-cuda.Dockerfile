# syntax=docker/dockerfile:1
# vidsearch:<version>-cuda: the orchestrator with ONNX Runtime's CUDA build, for an
# orchestrator that runs the networks itself on a GPU (inference.backend onnxruntime, or
# the Triton fallback). Same layout as orchestrator.Dockerfile (/opt/vidsearch, uid 10001).
#   docker build -f docker/orchestrator-cuda.Dockerfile -t vidsearch:0.1.0-cuda .
#
# CUDA comes from pip, not from the base image: the `gpu` extra installs
# onnxruntime-gpu[cuda,cudnn] 1.24.4, whose extras pull the CUDA 12 runtime, cuFFT, cuRAND,
# NVRTC, cuBLAS and cuDNN 9 wheels (1.24 is built for CUDA 12 like Triton 24.10; the 1.31
# wheels need CUDA 13, i.e. a driver >= 580). The node's NVIDIA container toolkit mounts
# the driver (libcuda). Base pinned to a patch release; add a digest where a registry is
# reachable (see orchestrator.Dockerfile).

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/vidsearch/bin:$PATH
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG ONNXRUNTIME_GPU_VERSION=1.24.4
RUN python -m venv /opt/vidsearch \
 && pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY clients/python clients/python
COPY vidsearch vidsearch
COPY exporters exporters
# onnxruntime (a dependency) and onnxruntime-gpu (the extra) install the same `onnxruntime`
# package: drop both, then put the GPU build back alone (its CUDA wheels stay).
RUN pip install ./clients/python "./[gpu]" \
 && pip uninstall --yes onnxruntime onnxruntime-gpu \
 && pip install --no-deps "onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}" \
 && vidsearch --help >/dev/null \
 && python -c "import onnxruntime as o; p = o.get_available_providers(); assert 'CUDAExecutionProvider' in p, p"

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="vidsearch" \
      org.opencontainers.image.description="vidsearch gRPC orchestrator (ONNX Runtime CUDA)" \
      org.opencontainers.image.licenses="Apache-2.0"
# WordNet (Debian wordnet-base): unseen tag and query words embedded as trained ones
# (tags.thesaurus, text.thesaurus).
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends wordnet-base=1:3.0-37 \
 && rm -rf /var/lib/apt/lists/*
# /var/lib/vidsearch: the working directory, writable by the user (catalog, uploads of a
# plain `docker run`; the pods mount volumes there instead).
RUN groupadd --system --gid 10001 vidsearch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vidsearch \
 && install -d -o 10001 -g 10001 /var/lib/vidsearch
COPY --from=build /opt/vidsearch /opt/vidsearch
# The CUDA libraries live in the nvidia-* wheels (site-packages/nvidia/*/lib): register
# them with the dynamic linker so ONNX Runtime's CUDA provider finds them without
# LD_LIBRARY_PATH or onnxruntime.preload_dlls().
RUN find /opt/vidsearch/lib -type d -path '*/site-packages/nvidia/*/lib' \
        > /etc/ld.so.conf.d/vidsearch-nvidia.conf \
 && test -s /etc/ld.so.conf.d/vidsearch-nvidia.conf \
 && ldconfig
# HOME=/tmp: libraries that keep caches under ~ write to the one writable place of a
# read-only root filesystem (the pods mount /tmp).
ENV PATH=/opt/vidsearch/bin:$PATH \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /var/lib/vidsearch
USER 10001:10001
EXPOSE 50051 50052 9100
ENTRYPOINT ["vidsearch"]
CMD ["serve", "--host", "0.0.0.0"]
