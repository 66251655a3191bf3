"""The served models: names, tensor names, dtypes and shapes, in one place.

The exporters build networks that answer to these, the orchestrator and ``vidsearch
models`` call them by these names, and the export pipeline refuses an ONNX file whose
signature differs. Shapes include the batch axis; a string is a named size: ``batch``,
``frames`` and ``tokens`` vary per request (the ONNX dynamic axes), the others
(``size``, ``feature_dim``, ...) are fixed by the exported network and read from its
signature at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

DYNAMIC_AXES: tuple[str, ...] = ("batch", "frames", "tokens")


@dataclass(frozen=True)
class Tensor:
    """One input or output of a served model; ``exact``: compared bit for bit (codes)."""

    name: str
    dtype: str  # numpy dtype name
    shape: tuple[int | str, ...]
    exact: bool = False

    def dynamic_axes(self) -> dict[int, str]:
        """``{axis: name}`` of the axes whose size each request chooses."""
        return {i: s for i, s in enumerate(self.shape) if isinstance(s, str) and s in DYNAMIC_AXES}


@dataclass(frozen=True)
class ModelContract:
    """What one served model is called, takes and returns."""

    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The ``dynamic_axes`` argument of ``torch.onnx.export``."""
        return {t.name: t.dynamic_axes() for t in (*self.inputs, *self.outputs)}


# ---- tensors ------------------------------------------------------------------------
# uint8 RGB, channels last: normalisation is inside the networks.
FRAMES = Tensor("frames", "uint8", ("batch", "size", "size", 3))
CLIP_FRAMES = Tensor("frames", "uint8", ("batch", "frames", "size", "size", 3))
FEATURE = Tensor("feature", "float32", ("batch", "feature_dim"))
TEXTURE = Tensor("texture", "float32", ("batch", "texture_dim"))
HASH_LOGITS = Tensor("hash_logits", "float32", ("batch", "bits"))
HASH_BITS = Tensor("hash_bits", "float32", ("batch", "bits"), exact=True)  # ±1 codes
EMBEDDING = Tensor("embedding", "float32", ("batch", "embed_dim"))

INPUT_IDS = Tensor("input_ids", "int64", ("batch", "tokens"))
ATTENTION_MASK = Tensor("attention_mask", "int64", ("batch", "tokens"))
TOKEN_FEATURES = Tensor("token_features", "float32", ("batch", "tokens", "text_dim"))
TEXT_FEATURE = Tensor("text_feature", "float32", ("batch", "text_dim"))
TEXT_EMBEDDING = Tensor("text_embedding", "float32", ("batch", "embed_dim"))
LOCAL_FEATURES = Tensor("local_features", "float32", ("batch", "frames", "dim"))
FRAME_FEATURES = Tensor("frame_features", "float32", ("batch", "frames", "dim"))
TOKEN_MASK = Tensor("token_mask", "float32", ("batch", "tokens"))
KEYWORD_FEATURES = Tensor("keyword_features", "float32", ("batch", "keywords", "text_dim"))
KEYWORD_MASK = Tensor("keyword_mask", "float32", ("batch", "keywords"))
FRAME_MASK = Tensor("frame_mask", "float32", ("batch", "frames"))
SCORE = Tensor("score", "float32", ("batch",))
FINE = Tensor("fine", "float32", ("batch",))
COARSE = Tensor("coarse", "float32", ("batch",))

# ---- near-duplicate search and recommendations --------------------------------------
FRAME_ENCODER = ModelContract("frame_encoder", inputs=(FRAMES,), outputs=(FEATURE,))
HASH_TEXTURE_HEADS = ModelContract(
    "hash_texture_heads", inputs=(FEATURE,), outputs=(TEXTURE, HASH_LOGITS, HASH_BITS)
)
VIDEO_EMBEDDER = ModelContract("video_embedder", inputs=(CLIP_FRAMES,), outputs=(EMBEDDING,))
VIDEO_SEARCH_MODELS = (FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER)

# ---- search by text -----------------------------------------------------------------
TEXT_ENCODER = ModelContract(
    "text_encoder",
    inputs=(INPUT_IDS, ATTENTION_MASK),
    outputs=(TOKEN_FEATURES, TEXT_FEATURE, TEXT_EMBEDDING),
)
TEXT_VIDEO_EMBEDDER = ModelContract(
    "text_video_embedder",
    inputs=(CLIP_FRAMES,),
    outputs=(EMBEDDING, LOCAL_FEATURES, FRAME_FEATURES),
)
TEXT_VIDEO_SCORER = ModelContract(
    "text_video_scorer",
    inputs=(
        TOKEN_FEATURES,
        TOKEN_MASK,
        TEXT_FEATURE,
        KEYWORD_FEATURES,
        KEYWORD_MASK,
        LOCAL_FEATURES,
        FRAME_FEATURES,
        FRAME_MASK,
    ),
    outputs=(SCORE, FINE, COARSE),
)
TEXT_SEARCH_MODELS = (TEXT_ENCODER, TEXT_VIDEO_EMBEDDER, TEXT_VIDEO_SCORER)

# ---- tags (seed 004) ------------------------------------------------------------------
# The tag encoder embeds tag texts, the video tag encoder a video's frames, into one space
# (the ``tags`` export family, from models/starter/tags.pt). A model repository without
# them serves tags from the text models instead (``orchestrator.tags``: ``text_encoder``'s
# text_embedding and ``text_video_embedder``'s embedding, a placeholder).
TAG_EMBEDDING = Tensor("tag_embedding", "float32", ("batch", "tag_dim"))
TAG_FEATURE = Tensor("tag_feature", "float32", ("batch", "tag_dim"))
# The video's scenes (equal runs of its frames) in the same space: a tag scores by the video
# and by its best scene (``contract.tag_scoring``).
SCENE_TAG_FEATURES = Tensor("scene_tag_features", "float32", ("batch", "scenes", "tag_dim"))
TAG_ENCODER = ModelContract(
    "tag_encoder", inputs=(INPUT_IDS, ATTENTION_MASK), outputs=(TAG_EMBEDDING,)
)
VIDEO_TAG_ENCODER = ModelContract("video_tag_encoder", inputs=(CLIP_FRAMES,),
                                  outputs=(TAG_FEATURE, SCENE_TAG_FEATURES))
TAG_MODELS = (TAG_ENCODER, VIDEO_TAG_ENCODER)

# ---- captions (seed 000) ----------------------------------------------------------------
# The caption encoder turns a video's frames into the decoder's memory and first state; the
# orchestrator then loops over the one-word step (greedy or beam search, numpy), feeding
# h/c back and repeating the memory per hypothesis. Word ids index the vocabulary file
# (``repository_layout.VOCABULARY_FILE``) in the caption_step version folder.
CAPTION_MEMORY = Tensor("caption_memory", "float32", ("batch", "frames", "hidden"))
DECODER_H = Tensor("h", "float32", ("batch", "hidden"))
DECODER_C = Tensor("c", "float32", ("batch", "hidden"))
WORDS = Tensor("words", "int64", ("batch",))
LOG_PROBS = Tensor("log_probs", "float32", ("batch", "vocab"))
NEXT_H = Tensor("h_next", "float32", ("batch", "hidden"))
NEXT_C = Tensor("c_next", "float32", ("batch", "hidden"))
CAPTION_ENCODER = ModelContract("caption_encoder", inputs=(CLIP_FRAMES,),
                                outputs=(CAPTION_MEMORY, DECODER_H, DECODER_C))
CAPTION_STEP = ModelContract(
    "caption_step", inputs=(WORDS, DECODER_H, DECODER_C, CAPTION_MEMORY, FRAME_MASK),
    outputs=(LOG_PROBS, NEXT_H, NEXT_C))
CAPTION_MODELS = (CAPTION_ENCODER, CAPTION_STEP)

MODELS: dict[str, ModelContract] = {
    m.name: m for m in VIDEO_SEARCH_MODELS + TEXT_SEARCH_MODELS + TAG_MODELS + CAPTION_MODELS}


def signature_problems(
    contract: ModelContract,
    inputs: tuple[tuple[str, str, int], ...],
    outputs: tuple[tuple[str, str, int], ...],
) -> list[str]:
    """How a network's (name, numpy dtype, rank) inputs and outputs differ from ``contract``."""
    problems = []
    for kind, wanted, actual in (
        ("inputs", contract.inputs, inputs),
        ("outputs", contract.outputs, outputs),
    ):
        expected = tuple((t.name, t.dtype, len(t.shape)) for t in wanted)
        if expected != tuple(actual):
            problems.append(f"{contract.name} {kind} are {list(actual)}, the contract says "
                            f"{list(expected)} (name, dtype, rank)")
    return problems
