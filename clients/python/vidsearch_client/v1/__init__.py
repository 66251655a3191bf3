"""Generated vidsearch.v1 protobuf and gRPC modules (see scripts/gen_protos.py; do not edit)."""
