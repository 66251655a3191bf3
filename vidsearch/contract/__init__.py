"""What the layers above agree on, with no dependency on any of them: the served models
(``models``), the Triton config model (``triton_config``), the model repository layout
(``repository_layout``), and what serving and evaluation must compute alike (tag scoring,
the thesaurus that rewrites unseen tag words). Exporters write to it; inference and the
orchestrator read from it."""
