# syntax=docker/dockerfile:1
# vidsearch-models:<tag>: the exported Triton model repository as an immutable image that
# Triton pods copy from in an init container (k8s/base/triton.yaml):
#   /model_repository       model_repository/ (ONNX, config.pbtxt; KIND_GPU)
#   /model_repository_cpu   var/model_repository_cpu/ (the CPU twin; overlays/dev)
# Run `make export` first; the build fails when no exported model is there.
#   docker build -f docker/models.Dockerfile -t vidsearch-models:0.1.0 .
# The tag names the models: a rollout is a new tag in the overlay (k8s/README.md, "Model
# rollout"), never a load into one running pod.
#
# busybox for `cp` in the init container; pinned to a release (add a digest where a
# registry is reachable: docker buildx imagetools inspect busybox:1.37.0).

FROM busybox:1.37.0 AS check
COPY model_repository /model_repository
COPY var/model_repository_cpu /model_repository_cpu
# Only what Triton reads: configs and numbered version folders; files readable by any uid
# (the Triton pods run as 1000), nothing writable.
RUN test -n "$(find /model_repository -name model.onnx)" \
 && test -n "$(find /model_repository_cpu -name model.py)" \
 && rm -f /model_repository/README.md /model_repository/.exported \
 && chmod -R a+rX,go-w /model_repository /model_repository_cpu

FROM busybox:1.37.0
LABEL org.opencontainers.image.title="vidsearch-models" \
      org.opencontainers.image.description="vidsearch Triton model repository (+ CPU twin)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=check /model_repository /model_repository
COPY --from=check /model_repository_cpu /model_repository_cpu
USER 1000:1000
CMD ["cp", "-R", "/model_repository/.", "/models/"]
