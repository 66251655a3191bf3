"""One typed configuration for every vidsearch process.

Loaded from an optional YAML file, then overridden by environment variables named
``VIDSEARCH_<SECTION>__<FIELD>`` (e.g. ``VIDSEARCH_CATALOG__BACKEND=qdrant_cluster``).
Printed (secrets masked) when a server starts so an operator sees what runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Pictures of a query that search can add (orchestrator.query_views makes them).
QueryView = Literal["flip", "rot90", "rot270", "regions"]
DEFAULT_QUERY_VIEWS: tuple[QueryView, ...] = ("flip", "rot90", "rot270", "regions")

CONFIG_ENV = "VIDSEARCH_CONFIG"


class ConfigFileError(ValueError):
    """The config file is missing or malformed; the CLI prints this one line, no traceback."""


class MediaConfig(BaseModel):
    """How query and indexed videos are decoded."""

    sample_fps: float = Field(1.0, gt=0, le=30, description="frames sampled per second")
    max_frames: int = Field(3600, ge=1, description="frames decoded at most per video")
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1)
    max_duration_s: float = Field(4 * 3600.0, gt=0)
    max_pixels: int = Field(3840 * 2160, ge=1, description="largest frame area decoded")
    decode_timeout_s: float = Field(120.0, gt=0)
    skip_nonreference_frames: bool = Field(
        True,
        description="H.264/HEVC: leave undecoded the frames no other frame refers to; each "
        "sample is then the first reference frame at or after its tick (a few frames "
        "later at most) and decoding costs about half",
    )
    skip_deblocking: bool = Field(
        False,
        description="H.264/HEVC: skip the in-loop deblocking filter (block edges stay); "
        "decoding costs about a fifth less; the release model kept its copy-detection "
        "quality in one run (BENCHMARKS.md), a barely trained one did not",
    )
    sandbox: bool = Field(
        True,
        description="decode in a memory-capped child process, so a hostile file "
        "can only fail its own request",
    )
    sandbox_memory_bytes: int = Field(2 * 1024**3, ge=64 * 1024**2)
    warm_decoders: int = Field(
        1, ge=0, le=64,
        description="sandbox children started ahead of need (each decodes one file), so a "
        "request does not wait for a fork",
    )


class InferenceConfig(BaseModel):
    """Which inference backend serves the networks."""

    backend: Literal["onnxruntime", "triton"] = "onnxruntime"
    model_repository: Path = Path("model_repository")
    triton_url: str = "localhost:8001"
    model_version: int | None = Field(None, description="pin a model version; None = latest")
    providers: list[str] = Field(
        default_factory=list,
        description="ONNX Runtime providers; empty = CUDA if present, else CPU",
    )
    timeout_s: float = Field(30.0, gt=0)
    fallback: Literal["none", "onnxruntime"] = Field(
        "none",
        description="when the Triton backend is unavailable, serve with embedded ONNX Runtime "
        "over fallback_model_repository (logged and counted); none = answer UNAVAILABLE",
    )
    fallback_model_repository: Path | None = Field(
        None, description="ONNX repository of the fallback; None = model_repository"
    )
    fallback_retry_s: float = Field(
        2.0,
        gt=0,
        description="after a failure, how long the fallback serves before Triton is tried again",
    )
    triton_tls_ca_file: Path | None = Field(
        None,
        description="PEM CA bundle that signed Triton's gRPC certificate: TLS to triton_url on "
        "(Triton started with --grpc-use-ssl); None = plaintext",
    )
    triton_tls_cert_file: Path | None = Field(
        None, description="PEM client certificate for Triton's mutual TLS (--grpc-use-ssl-mutual)"
    )
    triton_tls_key_file: Path | None = Field(None, description="PEM key of triton_tls_cert_file")

    @model_validator(mode="after")
    def _triton_tls_complete(self) -> InferenceConfig:
        client = (self.triton_tls_cert_file is None, self.triton_tls_key_file is None)
        if client[0] != client[1]:
            raise ValueError("inference.triton_tls_cert_file and triton_tls_key_file go together")
        if self.triton_tls_cert_file is not None and self.triton_tls_ca_file is None:
            raise ValueError("inference.triton_tls_cert_file needs inference.triton_tls_ca_file")
        return self


class HashIndexConfig(BaseModel):
    """How the Hamming coarse filter finds codes (``catalog.hash_index``): by default an
    exact scan of small segments and an HNSW graph walk from ``graph_above`` codes per
    segment (recall and latency of each in BENCHMARKS.md, "Catalog search"). Fixed when a
    catalog's stores are created."""

    mode: Literal["auto", "scan", "graph"] = Field(
        "auto", description="auto (default): scan segments below graph_above codes, walk the "
        "graph above (at 1M codes it kept every code within the search's Hamming 24 and every "
        "near-copy within 40, BENCHMARKS.md); scan: exact always; graph: walk every "
        "optimised segment")
    graph_above: int = Field(100_000, ge=1, description="codes per segment from which auto walks")
    m: int = Field(32, ge=1, description="graph edges per code (more: better recall, slower build)")
    ef_construct: int = Field(256, ge=1, description="candidates while building the graph")
    ef: int = Field(128, ge=1, description="candidates while walking the graph per query "
                    "(more: recall of unrelated codes near the threshold, slower)")
    probe: int = Field(100, ge=1, description="codes a graph walk returns at most (a scan "
                       "returns the request's coarse limit)")
    index_above: int | None = Field(
        None, ge=1, description="codes per segment from which Qdrant builds the binary "
        "quantization and the graph when it optimises (None: Qdrant's default, ~20k); a "
        "smaller segment is always scanned")


class CatalogConfig(BaseModel):
    """Where the index table (codes) and mapping table (textures) live."""

    backend: Literal["qdrant_edge", "qdrant_cluster", "qdrant_local"] = "qdrant_edge"
    path: Path = Path("var/catalog")
    url: str = "http://localhost:6333"
    prefer_grpc: bool = True
    api_key: SecretStr | None = Field(
        None,
        description="Qdrant API key (sent as the api-key header on REST and gRPC); in "
        "Kubernetes from a Secret: VIDSEARCH_CATALOG__API_KEY valueFrom secretKeyRef",
    )
    tls_ca_file: Path | None = Field(
        None,
        description="PEM CA bundle that signed Qdrant's certificate, for an https:// url "
        "(REST and gRPC); None = the system's trusted roots",
    )
    collection_prefix: str = "vidsearch"
    hash_index: HashIndexConfig = Field(default_factory=HashIndexConfig)
    replication_factor: int = Field(2, ge=1)
    duplicate_policy: Literal["report", "reject"] = Field(
        "report",
        description="same file (SHA-256) indexed under another id: report it in the answer, "
        "or reject the request with ALREADY_EXISTS",
    )
    shard_number: int = Field(3, ge=1)
    timeout_s: float = Field(
        10.0, gt=0, description="qdrant-client call timeout when the request sets no deadline"
    )
    background_path: Path | None = Field(
        None,
        description="qdrant_edge: folder of the background catalog (videos "
        "never indexed, for score normalisation; filled by `vidsearch catalog background`); "
        "None = <path>-background beside the catalog",
    )
    background_prefix: str | None = Field(
        None,
        description="qdrant_cluster / qdrant_local: collection prefix of the background "
        "catalog; None = <collection_prefix>_background",
    )

    @model_validator(mode="after")
    def _tls_needs_https(self) -> CatalogConfig:
        if self.tls_ca_file is not None and not self.url.startswith("https://"):
            raise ValueError("catalog.tls_ca_file needs an https:// catalog.url")
        return self

    def background_catalog_path(self) -> Path:
        """Where the background catalog's folder is (its own shard/collections)."""
        if self.background_path is not None:
            return self.background_path
        return self.path.with_name(self.path.name + "-background")

    def background_collection_prefix(self) -> str:
        return self.background_prefix or f"{self.collection_prefix}_background"


class SearchConfig(BaseModel):
    """Defaults for search requests; each may be overridden per request."""

    mode: Literal["texture", "duration", "keyframe"] = Field(
        "duration",
        description="texture: near-duplicate search (whole videos by texture distance); "
        "duration: duration matching (how much of the shorter video repeats, from key-frame "
        "matches; clips inside longer videos); keyframe: key-frame matching (near hash codes "
        "alone)",
    )
    max_hamming: int = Field(24, ge=0, le=128, description="coarse filter: Hamming distance kept")
    coarse_limit: int = Field(1000, ge=1, le=100_000, description="coarse filter: N nearest kept")
    keyframe_limit: int = Field(50, ge=1, le=10_000, description="hits kept per query key frame")
    max_texture_distance: float | None = Field(
        0.45, ge=0, description="rerank: texture distance (unit vectors, 0..2) counted as a match"
    )
    min_repetition: float = Field(0.3, ge=0, le=1.0)
    alignment: bool = Field(
        True,
        description="duration matching: rerank the top rerank_candidates videos by temporal "
        "alignment of the full query x reference key-frame similarity matrix (several "
        "segments, speed changes); false = the single-offset vote on key-frame hits",
    )
    rerank_candidates: int = Field(
        20, ge=1, le=1000, description="alignment: videos (most key-frame hits) aligned"
    )
    normalise: bool = Field(
        True,
        description="alignment: subtract from each query frame's similarities its similarity "
        "to its k-th nearest key frame in the background catalog (off or empty background: "
        "raw cosines, floored at raw_min_similarity)",
    )
    normalise_k: int = Field(
        10, ge=1, le=1000, description="normalisation: k of the background neighbour"
    )
    query_views: list[QueryView] = Field(
        default_factory=lambda: list(DEFAULT_QUERY_VIEWS),
        description="alignment: also search these pictures of the query, encoded in the same "
        "batches (flip: mirrored; rot90/rot270: turned a quarter; regions: five 60% windows, "
        "for picture-in-picture and embedded copies); per candidate the best view counts. "
        "Each view adds the query's encode, coarse-filter, background and alignment work "
        "again (regions: five times); see BENCHMARKS.md for what each costs and brings "
        "([] for the original frames only)",
    )
    view_penalty: float = Field(
        0.5,
        ge=0,
        description="alignment: subtracted from a score found through a query view rather "
        "than the original frames (each view is one more chance of a chance match; 0.5, "
        "half a second of perfect match, measured best of 0-1.5 on the copy benchmark)",
    )
    motion_weight: float = Field(
        3.0,
        ge=0,
        le=10,
        description="alignment: a segment's score is scaled by 1 + this x how alike the two "
        "videos change along it (cosine of each frame minus the matched window's mean), so "
        "another stretch of the same static camera, which matches frame by frame, scores "
        "below a copy; 0 = appearance only; normalised scores only. 3.0: on two "
        "copy-benchmark samples µAP 0.74 -> 0.90 and 0.64 -> 0.85 (1: 0.87 / 0.81; 6: no "
        "better, R@1 lower)",
    )
    min_similarity: float = Field(
        0.0, ge=-2, le=2, description="alignment: normalised similarity a frame pair must beat"
    )
    min_score: float = Field(
        2.0,
        ge=0,
        description="alignment: a video is a hit when its best segment scores at least this "
        "(sum over its seconds of normalised similarity above min_similarity, scaled by the "
        "motion factor, so short copies score less). 2.0 for the shipped descriptor with "
        "motion_weight 3: on the copy benchmark's (query, reference) pairs precision 0.73, "
        "recall 0.93 (a second sample: 0.66 / 0.91; appearance alone at its old 1.2: 0.58 / "
        "0.93 and 0.53 / 0.89); 3.0: precision 0.84 / 0.75 at recall 0.83 / 0.78",
    )
    raw_min_score: float = Field(
        0.5, ge=0, description="alignment without normalisation: min_score on raw cosines"
    )
    raw_min_similarity: float = Field(
        0.8,
        ge=-2,
        le=2,
        description="alignment without normalisation: raw cosine a frame pair must beat",
    )
    top_k: int = Field(10, ge=1, le=1000)
    recommend_k: int = Field(5, ge=1, le=100)


class TextSearchConfig(BaseModel):
    """Text search (SearchByText): stage 1 embedding shortlist, stage 2 text-conditioned
    rescoring."""

    enabled: Literal["auto", "on", "off"] = Field(
        "auto",
        description="auto: text search and text features at index time when the model "
        "repository serves text_encoder, text_video_embedder and text_video_scorer; on: "
        "refuse to start without them",
    )
    model_version: int | None = Field(None, ge=1, description="pin the text models' version")
    top_k: int = Field(10, ge=1, le=1000)
    candidates: int = Field(50, ge=1, le=1000, description="stage 1 shortlist N rescored")
    rerank: bool = Field(True, description="run stage 2 (text-conditioned scorer)")
    keywords: bool = Field(
        True, description="stage 2 also matches keywords extracted from the query"
    )
    max_query_chars: int = Field(1000, ge=1, le=100_000)
    max_frames: int = Field(
        64, ge=1, description="frames given to text_video_embedder at most (uniformly "
        "subsampled); the shipped model has 64 temporal positions"
    )
    scorer_batch: int = Field(256, ge=1, description="stage 2 rows per inference request")
    thesaurus: Path | None = Field(
        Path("/usr/share/wordnet"), description="WordNet database (Debian wordnet-base): a "
        "query word the text model never trained on is embedded as its closest related "
        "training phrase ('huge' as 'big', 'rising' as 'going up'); None or a missing "
        "folder: queries are embedded as written")
    thesaurus_senses: int | None = Field(
        2, ge=1, description="relate a query word through its first N WordNet senses per "
        "part of speech only (most frequent first; None: all): held-out wording stage 1 "
        "R@1 0.31 -> 0.40 / 0.40 / 0.35 with 1 / 2 / all senses on 80 validation videos")


class CaptionsConfig(BaseModel):
    """Captions: a generated sentence per indexed video, SearchBySentence and
    SearchByAudio over the stored sentences."""

    enabled: Literal["auto", "on", "off"] = Field(
        "auto",
        description="auto: caption every indexed video when the model repository serves "
        "caption_encoder and caption_step; on: refuse to start without them",
    )
    model_version: int | None = Field(None, ge=1, description="pin the captioner's version")
    beam: int = Field(5, ge=1, le=20, description="beam width; 1 = greedy decoding")
    length_alpha: float = Field(0.0, ge=0, description="beam length normalisation (GNMT)")
    max_words: int = Field(64, ge=2, le=200, description="a sentence stops after this many "
                           "(the starter captioner's training value)")
    max_frames: int = Field(64, ge=1, description="frames given to caption_encoder at most")
    top_k: int = Field(10, ge=1, le=1000)
    max_query_chars: int = Field(1000, ge=1, le=100_000)
    candidates: int = Field(
        100, ge=1, le=1000, description="videos each ranking (sentence vector, keywords) "
        "contributes to the fusion (the keyword ranking orders the nearest ones by facts "
        "matched: 100 found the video in the top 10 for 69% of validation queries, 50 for 63%)")
    fusion: Literal["keywords", "rrf"] = Field(
        "keywords", description="keywords: videos by how many of the query's facts their "
        "caption names (synonyms matched as one), the sentence vector breaking ties; rrf: "
        "reciprocal-rank fusion of the vector and keyword rankings (BENCHMARKS.md compares)")
    fusion_k: float = Field(
        60.0, gt=0, description="reciprocal-rank fusion constant: score = sum 1/(k + rank)")
    max_audio_bytes: int = Field(16 * 1024 * 1024, ge=1, description="largest audio upload")
    max_audio_s: float = Field(30.0, gt=0, le=600, description="longest spoken query")
    speech_timeout_s: float = Field(20.0, gt=0, description="decode + recognition budget")


class TagsConfig(BaseModel):
    """Tag suggestions (SuggestTags, TagVideos)."""

    scene_weight: float = Field(
        2.0, ge=0, le=100, description="how much a tag's best-matching scene "
        "of the video counts beside the whole video: similarity = (video + w * best scene) "
        "/ (1 + w); 0 = the whole video only (BENCHMARKS.md, 'Tag suggestions')")
    thesaurus: Path | None = Field(
        Path("/usr/share/wordnet"), description="WordNet database (Debian wordnet-base): a "
        "tag word the tag model never trained on is embedded as its closest related "
        "training tag ('crimson' as 'red', 'rising' as 'moving up'); None or a missing "
        "folder: tags are embedded as written")


class StageLimitConfig(BaseModel):
    """Bounded concurrency and wait queue of one stage; beyond them, RESOURCE_EXHAUSTED."""

    concurrency: int = Field(ge=1, description="requests working in the stage at once")
    queue: int = Field(ge=0, description="requests waiting for a slot; one more is rejected")
    queue_wait_s: float = Field(gt=0, description="longest wait for a slot before rejection")


class StageLimitsConfig(BaseModel):
    """Per-stage limits, so one slow dependency cannot pile up every worker thread."""

    decode: StageLimitConfig = Field(
        default_factory=lambda: StageLimitConfig(concurrency=4, queue=8, queue_wait_s=2.0)
    )
    encode: StageLimitConfig = Field(
        default_factory=lambda: StageLimitConfig(concurrency=4, queue=8, queue_wait_s=2.0)
    )
    catalog: StageLimitConfig = Field(
        default_factory=lambda: StageLimitConfig(concurrency=8, queue=16, queue_wait_s=1.0)
    )


ContainerName = Literal["mp4", "matroska", "avi", "mpegts", "mpeg", "flv", "ogg"]


def _default_containers() -> list[ContainerName]:
    return ["mp4", "matroska", "avi", "mpegts"]


class ServerConfig(BaseModel):
    """gRPC and metrics listeners."""

    host: str = "127.0.0.1"
    port: int = Field(50051, ge=0, le=65535)
    metrics_port: int = Field(9100, ge=0, le=65535)
    health_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="extra plaintext listener serving only grpc.health.v1 (for kubelet probes "
        "when the API port speaks TLS); None = off",
    )
    max_workers: int = Field(8, ge=1)
    max_concurrent_searches: int = Field(4, ge=1)
    stage_limits: StageLimitsConfig = Field(default_factory=StageLimitsConfig)
    max_message_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_connection_age_s: float | None = Field(
        None,
        gt=0,
        description="close each client connection after about this long (gRPC sends GOAWAY, "
        "with +-10% jitter) so clients reconnect and re-resolve: behind a Kubernetes "
        "Service a long-lived gRPC connection stays on one pod, and pods added by a scale-up "
        "or a rollout get traffic only from new connections; None = connections never age",
    )
    max_connection_age_grace_s: float | None = Field(
        None,
        ge=0,
        description="after that GOAWAY, how long calls in flight on the old connection may "
        "still run before it is closed (longer than the slowest call: upload + decode + "
        "search); None = no limit",
    )
    upload_dir: Path = Path("var/uploads")
    source_uri_roots: list[Path] = Field(
        default_factory=list,
        description="directories IndexVideo/SearchByVideo may read by source_uri; empty = any",
    )
    allowed_containers: list[ContainerName] = Field(
        default_factory=_default_containers,
        description="video containers accepted (sniffed from the first bytes); empty = any",
    )
    tls_cert_file: Path | None = Field(None, description="PEM server certificate (chain): TLS on")
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file")
    tls_client_ca_file: Path | None = Field(
        None, description="PEM CA bundle; when set, clients must present a certificate it signed"
    )
    auth_tokens_file: Path | None = Field(
        None,
        description="YAML/JSON mapping sha256(token) -> {scopes, expires}; unset = no auth",
    )
    reflection: bool = Field(
        True,
        description="gRPC server reflection on the API port, so grpcurl and other generic "
        "clients can list and call the services without the .proto files (under auth "
        "tokens it needs an admin token)",
    )

    @model_validator(mode="after")
    def _grace_needs_an_age(self) -> ServerConfig:
        if self.max_connection_age_grace_s is not None and self.max_connection_age_s is None:
            raise ValueError("server.max_connection_age_grace_s needs server.max_connection_age_s")
        return self


class PlaybackConfig(BaseModel):
    """What StreamVideo may play back (the review page): a video's recorded source file,
    or its upload, kept for a while after IndexVideo."""

    keep_uploads_s: float = Field(
        0.0,
        ge=0,
        description="how long the bytes of a video indexed by upload are kept for playback "
        "(StreamVideo); 0 = not kept (only videos indexed from a source_uri play)",
    )
    kept_uploads_dir: Path = Field(
        Path("var/kept_uploads"), description="where kept uploads live (one file per video)"
    )
    chunk_bytes: int = Field(256 * 1024, ge=1024, description="size of each streamed chunk")


class VidsearchConfig(BaseSettings):
    """Everything a vidsearch process needs to know."""

    model_config = SettingsConfigDict(
        env_prefix="VIDSEARCH_", env_nested_delimiter="__", extra="forbid"
    )

    media: MediaConfig = Field(default_factory=MediaConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    text: TextSearchConfig = Field(default_factory=TextSearchConfig)
    captions: CaptionsConfig = Field(default_factory=CaptionsConfig)
    tags: TagsConfig = Field(default_factory=TagsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    playback: PlaybackConfig = Field(default_factory=PlaybackConfig)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over explicit (file) values: operators override files with env.
        return env_settings, init_settings

    def describe(self) -> str:
        """JSON view for start-up logs, secrets masked."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)


def load_config(path: str | Path | None = None, **overrides: Any) -> VidsearchConfig:
    """Load the YAML file at ``path`` (or ``$VIDSEARCH_CONFIG``), then env overrides."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV)
    origin = "" if path is not None else f" (from ${CONFIG_ENV})"
    data: dict[str, Any] = {}
    if chosen:
        file_path = Path(chosen)
        if not file_path.is_file():
            what = "is a folder, not a file" if file_path.is_dir() else "does not exist"
            raise ConfigFileError(
                f"config file {file_path}{origin} {what}: point it at a YAML file, or unset "
                f"{CONFIG_ENV} for the defaults"
            )
        try:
            loaded = yaml.safe_load(file_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigFileError(f"config file {file_path}{origin} is not valid YAML: "
                                  f"{' '.join(str(exc).split())}") from None
        if not isinstance(loaded, dict):
            raise ConfigFileError(
                f"config file {file_path}{origin} must hold a mapping at the top level"
            )
        data = loaded
    data.update(overrides)
    return VidsearchConfig(**data)


def embedded_loopback_config(repository: Path, root: Path) -> VidsearchConfig:
    """The embedded default (ONNX Runtime on ``repository``, Qdrant Edge under ``root``)
    on free loopback ports: a whole server in one process, for benchmarks and evaluations."""
    config = VidsearchConfig()
    config.inference.backend = "onnxruntime"
    config.inference.model_repository = repository
    config.catalog.backend = "qdrant_edge"
    config.catalog.path = root / "catalog"
    config.server.host = "127.0.0.1"
    config.server.port = config.server.metrics_port = 0
    config.server.upload_dir = root / "uploads"
    return config
