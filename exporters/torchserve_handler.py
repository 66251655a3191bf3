"""TorchServe handler of the vidsearch .mar archives: the same tensors in and out as Triton.

Packed into every archive by ``vidsearch.exporters.torchserve`` next to the TorchScript
file and ``signature.json``; it only runs inside a TorchServe worker (numpy + torch, no
vidsearch import), like the CPU twin's model.py runs inside tritonserver.

Request body (one per HTTP request), the model's own input names and dtypes:

- JSON ``{"frames": [[[[r, g, b], ...]]]}`` (``Content-Type: application/json``), or
- raw ``.npy`` bytes (``numpy.save``) for a single-input model (any content type).

Response: JSON ``{"<output name>": nested lists, ...}`` with the ONNX/Triton output
names. All pre- and post-processing (uint8 NHWC -> normalised NCHW, L2 norms, ±1 hash
bits) lives inside the network, exactly as in the ONNX file, so none is repeated here.
Requests the frontend batches together are concatenated into one forward pass when
their non-batch shapes agree (what Triton's dynamic batcher does).
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np
import torch

SIGNATURE_FILE = "signature.json"
MODEL_FILE = "model.pt"
NPY_MAGIC = b"\x93NUMPY"


class RequestError(ValueError):
    """The request body does not fit the model's inputs (answered with HTTP 400)."""


class _Model:
    """The TorchScript module plus the tensor contract read from signature.json."""

    def __init__(self, context: Any) -> None:
        folder = context.system_properties["model_dir"]
        with open(os.path.join(folder, SIGNATURE_FILE)) as handle:
            self.signature: dict[str, Any] = json.load(handle)
        options = (getattr(context, "model_yaml_config", None) or {}).get("handler", {})
        torch.set_num_threads(int(options.get("intra_op_threads", 1)))
        self.module = torch.jit.load(os.path.join(folder, MODEL_FILE), map_location="cpu")
        self.module.eval()
        self.inputs: list[dict[str, Any]] = self.signature["inputs"]
        self.outputs: list[dict[str, Any]] = self.signature["outputs"]
        self.max_batch = int(self.signature.get("max_batch_size", 0))

    # ---- request decoding -------------------------------------------------------
    def _body(self, row: dict[str, Any]) -> dict[str, Any]:
        value = row.get("body", row.get("data"))
        if isinstance(value, bytes | bytearray):
            raw = bytes(value)
            if raw.startswith(NPY_MAGIC):
                if len(self.inputs) != 1:
                    raise RequestError("an .npy body fits single-input models only; send JSON")
                array = np.load(io.BytesIO(raw), allow_pickle=False)
                return {self.inputs[0]["name"]: array}
            try:
                value = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise RequestError(f"body is neither .npy nor JSON: {exc}") from exc
        elif isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise RequestError(f"body is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise RequestError("JSON body must be an object {input name: nested list}")
        return value

    def _tensor(self, spec: dict[str, Any], value: Any) -> np.ndarray:
        name, dtype = spec["name"], np.dtype(spec["dtype"])
        if isinstance(value, np.ndarray):  # from .npy: the dtype must already match
            if value.dtype != dtype:
                raise RequestError(f"input {name!r} must be {dtype}, got {value.dtype}")
            array = value
        else:
            try:
                array = np.asarray(value)
            except ValueError as exc:
                raise RequestError(f"input {name!r} is not a rectangular array") from exc
            if array.dtype.kind not in "iufb" or (dtype.kind in "iu" and array.dtype.kind == "f"):
                raise RequestError(f"input {name!r} must hold {dtype} numbers")
            if dtype == np.uint8 and array.size and (array.min() < 0 or array.max() > 255):
                raise RequestError(f"input {name!r} values must lie in 0..255")
            array = array.astype(dtype)
        shape = [int(d) for d in spec["shape"]]  # without the batch axis, -1 = any
        if array.ndim != len(shape) + 1 or any(
            want not in (-1, got) for want, got in zip(shape, array.shape[1:], strict=True)
        ):
            raise RequestError(
                f"input {name!r} has shape {list(array.shape)}, expected [batch, "
                + ", ".join(str(d) for d in shape)
                + "]"
            )
        if array.shape[0] < 1 or (self.max_batch and array.shape[0] > self.max_batch):
            raise RequestError(
                f"input {name!r} batch {array.shape[0]} outside 1..{self.max_batch or 'any'}"
            )
        return np.ascontiguousarray(array)

    def decode(self, row: dict[str, Any]) -> dict[str, np.ndarray]:
        body = self._body(row)
        names = [spec["name"] for spec in self.inputs]
        if sorted(body) != sorted(names):
            raise RequestError(f"model takes inputs {names}, got {sorted(body)}")
        feed = {spec["name"]: self._tensor(spec, body[spec["name"]]) for spec in self.inputs}
        if len({len(a) for a in feed.values()}) != 1:
            raise RequestError("all inputs must have the same batch size")
        return feed

    # ---- inference --------------------------------------------------------------
    def run(self, feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
        """One forward pass over the concatenated requests, split back per request."""
        names = [spec["name"] for spec in self.inputs]
        joined = [torch.from_numpy(np.concatenate([f[n] for f in feeds])) for n in names]
        with torch.inference_mode():
            result = self.module(*joined)
        values = [result] if isinstance(result, torch.Tensor) else list(result)
        if len(values) != len(self.outputs):
            raise RuntimeError(f"module returned {len(values)} outputs, not {len(self.outputs)}")
        arrays = [
            v.detach().cpu().numpy().astype(spec["dtype"], copy=False)
            for v, spec in zip(values, self.outputs, strict=True)
        ]
        cuts = np.cumsum([len(f[names[0]]) for f in feeds])[:-1]
        pieces = [np.split(a, cuts) for a in arrays]
        return [[piece[i] for piece in pieces] for i in range(len(feeds))]

    def encode(self, values: list[np.ndarray]) -> str:
        names = [spec["name"] for spec in self.outputs]
        return json.dumps({n: v.tolist() for n, v in zip(names, values, strict=True)})


_model: _Model | None = None


def _fail(context: Any, index: int, code: int, message: str) -> str:
    context.set_response_status(code=code, phrase=message[:200], idx=index)
    context.set_response_content_type(index, "application/json")
    return json.dumps({"error": message, "code": code})


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[str] | None:
    """TorchServe entry point: ``data is None`` means initialise (load the module)."""
    global _model
    if data is None:
        _model = _Model(context)
        return None
    if _model is None:
        _model = _Model(context)
    answers: list[str | None] = [None] * len(data)
    feeds: dict[int, dict[str, np.ndarray]] = {}
    for index, row in enumerate(data):
        try:
            feeds[index] = _model.decode(row)
        except RequestError as exc:
            answers[index] = _fail(context, index, 400, str(exc))
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, feed in feeds.items():
        key = tuple((n, a.shape[1:]) for n, a in sorted(feed.items()))
        groups.setdefault(key, []).append(index)
    for members in groups.values():
        try:
            results = _model.run([feeds[i] for i in members])
        except Exception as exc:  # report to these callers, keep serving the others
            for i in members:
                answers[i] = _fail(context, i, 500, f"inference failed: {exc}")
            continue
        for i, values in zip(members, results, strict=True):
            context.set_response_content_type(i, "application/json")
            answers[i] = _model.encode(values)
    return [a if a is not None else "" for a in answers]
