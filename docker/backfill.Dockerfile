# syntax=docker/dockerfile:1
# vidsearch-backfill:<version>, the head and decode workers of the RayJob in k8s/backfill:
# the orchestrator image (vidsearch:<version>, built first by `make images`) plus the
# `backfill` extra (Ray Data, pinned as in pyproject.toml). The GPU workers use
# backfill-cuda.Dockerfile. KubeRay starts `ray start` in it with /bin/bash.
#   docker build -f docker/backfill.Dockerfile -t vidsearch-backfill:0.1.0 .

FROM vidsearch:0.1.0 AS build
USER 0:0
# Everything is downloaded here, at build time; the image never downloads at run time.
RUN pip install --no-cache-dir "ray[data]==2.60.0" "pyarrow>=14,<24" \
 && python -c "import ray.data, vidsearch.batch.pipeline"
USER 10001:10001

FROM vidsearch:0.1.0
LABEL org.opencontainers.image.title="vidsearch-backfill" \
      org.opencontainers.image.description="vidsearch backfill on Ray Data (CPU)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/vidsearch /opt/vidsearch
USER 10001:10001
ENTRYPOINT []
CMD ["vidsearch", "backfill", "--help"]
