"""Triton python-backend model of the CPU twin: runs this version's model.onnx on CPU.

Copied as ``<twin>/<model>/<version>/model.py`` by ``vidsearch.exporters.cpu_twin``;
it only runs inside tritonserver's python stub, never imported by vidsearch itself.
Requests that share their non-batch shapes are concatenated into one session run, so
the dynamic batcher pays off as it would with the onnxruntime backend in production.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """The python backend's entry point (name fixed by Triton)."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("intra_op_num_threads", "1"))
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            os.path.join(folder, "model.onnx"),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self.input_names = [i["name"] for i in config["input"]]
        self.outputs = [
            (o["name"], pb_utils.triton_string_to_numpy(o["data_type"])) for o in config["output"]
        ]
        self.batching = int(config.get("max_batch_size", 0)) > 0

    def _run(self, feeds: list[dict[str, np.ndarray]]) -> list[list[Any]]:
        names = [name for name, _ in self.outputs]
        if not self.batching or len(feeds) == 1:
            results = [self.session.run(names, feed) for feed in feeds]
        else:
            joined = {n: np.concatenate([f[n] for f in feeds]) for n in self.input_names}
            merged = self.session.run(names, joined)
            cuts = np.cumsum([len(f[self.input_names[0]]) for f in feeds])[:-1]
            pieces = [np.split(value, cuts) for value in merged]
            results = [[piece[i] for piece in pieces] for i in range(len(feeds))]
        return [
            [
                pb_utils.Tensor(name, np.ascontiguousarray(value, dtype=dtype))
                for (name, dtype), value in zip(self.outputs, values, strict=True)
            ]
            for values in results
        ]

    def execute(self, requests: list[Any]) -> list[Any]:
        feeds = [
            {n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in self.input_names}
            for r in requests
        ]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, feed in enumerate(feeds):
            key = tuple(
                (feed[n].shape[1:] if self.batching else feed[n].shape, feed[n].dtype.str)
                for n in self.input_names
            )
            groups.setdefault(key, []).append(index)
        responses: list[Any] = [None] * len(requests)
        for members in groups.values():
            try:
                tensors = self._run([feeds[i] for i in members])
                for i, output in zip(members, tensors, strict=True):
                    responses[i] = pb_utils.InferenceResponse(output_tensors=output)
            except Exception as exc:  # report to the caller, keep serving
                for i in members:
                    responses[i] = pb_utils.InferenceResponse(
                        output_tensors=[], error=pb_utils.TritonError(f"onnxruntime: {exc}")
                    )
        return responses

    def finalize(self) -> None:
        self.session = None
