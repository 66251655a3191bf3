"""What the layers above agree on, with no dependency on any of them: the served models
(``models``), the Triton config model (``triton_config``) and the model repository
layout (``repository_layout``). Exporters write to it; inference and the orchestrator
read from it."""
