"""Export trained networks to ONNX and lay them out as Triton model repositories.

Modules (import what you need; only onnx_export/verify/pipeline/families pull in torch):
``onnx_export`` + ``verify`` (ONNX file checked against PyTorch), ``triton_config``
(writes config.pbtxt; the config model is ``vidsearch.contract.triton_config``),
``repository`` (versioned layout),
``cpu_twin`` (python-backend twin served by tritonserver here), ``signature_check``
(configs vs ONNX signatures), ``families`` (checkpoint -> served models registry),
``pipeline`` (all of it in one call) and ``cli`` (``vidsearch export``).
"""
