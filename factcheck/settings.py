"""The one place configuration is read (environment, `FACTCHECK_` prefix, optional `.env`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Nothing may reach a model hub at run time, and litellm must not fetch its cost map.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The per-load "Loading weights" bar of every model is noise on each CLI call and API start.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


Role = Literal["check", "review", "admin"]


class ApiKeySpec(BaseModel):
    """One named API key and what it may do."""

    key: str = Field(min_length=1)
    roles: list[Role] = Field(default_factory=lambda: list[Role](["check"]))


class RatingSpec(BaseModel):
    """A ClaimReview rating: its value on the 1-5 scale and its textual name."""

    value: int = Field(ge=1, le=5)
    name: str = Field(min_length=1)


RatedLabel = Literal["supported", "contradicted", "unverified"]
DEFAULT_RATINGS: dict[RatedLabel, RatingSpec] = {
    "supported": RatingSpec(value=5, name="True"),
    "contradicted": RatingSpec(value=1, name="False"),
    "unverified": RatingSpec(value=3, name="Unproven"),
}


class Settings(BaseSettings):
    """Every tunable of the service; read once at the edge and passed down."""

    model_config = SettingsConfigDict(env_prefix="FACTCHECK_", env_file=".env", extra="ignore")

    # Index and retrieval
    index_dir: Path = Path("index")
    embedder: str = Field(
        "minilm", description="'minilm' (bundled), 'hash' (tests), or any sentence-transformers name/path"
    )
    # onnx (fp32, exported locally on first use) agrees with torch to cosine >= 0.999 and embeds faster (see
    # `factcheck bench`); onnx-int8 is faster still but agrees only to ~0.98, so it names its own embedder.
    embed_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"
    onnx_cache_dir: Path = Path(".cache/onnx")  # where the local ONNX export of the embedder is kept
    embed_batch_size: int = 64
    embed_threads: int | None = Field(None, ge=1)  # ONNX intra-op threads (None: one per core; a Ray actor: its CPUs)
    chunk_max_chars: int = 600
    chunk_overlap_sentences: int = 1
    top_k: int = 6
    dense_candidates: int = 50
    bm25_candidates: int = 50
    rrf_k: int = 60
    dedup_threshold: float = 0.92
    # Passages from which the index also keeps an HNSW graph for dense search. Exact search is memory-bound
    # beyond ~50k x 384 floats (10k: 0.6 ms, 100k: 12 ms, 1M: 140 ms p50 vs HNSW 0.2-0.4 ms; `factcheck bench`).
    ann_threshold: int = 50_000
    ann_ef_search: int = 128  # HNSW search beam (recall vs latency; see `factcheck bench`)
    query_cache_size: int = 4096  # query embeddings kept (LRU); 0 disables
    verdict_cache_size: int = 1024  # verdicts kept per index generation + judge version (LRU); 0 disables
    split_claims: bool = True  # judge each atomic fact of a compound claim on its own evidence (factcheck/claims.py)

    # Judging
    judge: Literal["auto", "verifier", "llm"] = "auto"
    verifier_path: Path | None = None  # default: the bundled model in factcheck/models/
    verifier_backend: Literal["torch", "onnx"] = "onnx"  # onnx: the same model exported locally, ~2x faster in fp32
    # bf16 runs the verifier under torch autocast where the CPU has AMX or AVX512-BF16 ("auto" decides by the
    # CPU's flags at load time; the verdict's `runtime` says which ran).
    verifier_precision: Literal["auto", "fp32", "bf16"] = "auto"
    # Units (sentences and sentence pairs) per claim the verifier reads first, ranked by overlap with the claim;
    # 0 reads every unit of every retrieved passage. Chosen on news-dev (lab/verifier/units.py; `factcheck bench`).
    verifier_max_units: int = Field(3, ge=0)
    # The unit cascade: a verdict the top units leave unclear (confidence below these, fitted on news-dev) reads
    # `verifier_escalate_units` units instead (0: all); the verdict's `decided_by` names the stage.
    verifier_escalate_units: int = Field(10, ge=0)
    verifier_escalate_below: float = Field(0.8, ge=0.0, le=1.0)
    verifier_escalate_unverified_below: float = Field(0.95, ge=0.0, le=1.0)
    # The student cascade: a 6-layer student distilled from v10 (`verifier-v10s6`, half v10's arithmetic per unit)
    # reads the top `verifier_student_units` units of every claim; a verdict it leaves unclear (confidence below
    # these, fitted on news-dev: lab/verifier/stages.py) goes to v10 and its unit cascade above. Off: v10 alone.
    verifier_student: bool = True
    verifier_student_path: Path | None = None  # default: the bundled student beside the bundled v10
    verifier_student_units: int = Field(4, ge=1)
    verifier_student_escalate_below: float = Field(0.5, ge=0.0, le=1.01)
    verifier_student_escalate_unverified_below: float = Field(0.8, ge=0.0, le=1.01)
    # Precision first: a supported/contradicted verdict less confident than its floor is published as unverified
    # (a false accusation or confirmation costs three wrong unverifieds; 0 publishes every verdict). "Unbacked": no
    # code check names a mismatch, only the network reads a contradiction. Fitted with `python -m
    # lab.verifier.precision` on news-dev and the robustness suite's sample-corpus rows (349 claims): cost 122 -> 118.
    # A contradiction no code check backs needs a unit holding this share of the claim's content words (the network
    # reads a sentence about the same subject as contradicting: "launched talks" against "wants the coalition out").
    verifier_contradict_overlap: float = Field(0.0, ge=0.0, le=1.0)
    precision_supported_below: float = Field(0.0, ge=0.0, le=1.01)
    precision_contradicted_below: float = Field(0.0, ge=0.0, le=1.01)
    precision_unbacked_contradicted_below: float = Field(0.65, ge=0.0, le=1.01)
    # The API's workers score the units of concurrent claims in one forward pass, holding a batch at most this
    # long for claims already being judged (0: every claim runs on its own).
    verifier_batch_window_ms: float = Field(5.0, ge=0)
    # bf16 weights reordered once into oneDNN's layout (logits within bf16's last bits, less work per call); false keeps plain bf16
    # Linears, e.g. on a torch build whose oneDNN lacks the packed kernels.
    verifier_bf16_pack: bool = True
    # Threads the verifier's network uses (None: the runtime's default, every core). A Ray eval actor sets its
    # own CPU count, so that several actors on one machine do not each take every core.
    verifier_threads: int | None = Field(None, ge=1)
    # `POST /check/batch` judges this many of its claims at once, so their units share forward passes
    # (1: one after another).
    batch_concurrency: int = Field(8, ge=1)
    llm_model: str | None = None
    llm_api_base: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 3
    llm_temperature: float = 0.0
    llm_max_tokens: int = 600
    llm_cache_dir: Path | None = Path(".cache/llm")
    llm_assist: bool = True
    prompt_version: str = "v1"
    # The LLM as the last stage of a cascade: the verifier decides the claims it is sure of and the LLM sees
    # only verdicts less confident than these (LLM tokens go to the hard claims only).
    llm_last_stage: bool = False
    llm_escalate_below: float = Field(0.8, ge=0.0, le=1.0)  # the verifier cascade's fitted rule (news-dev)
    llm_escalate_unverified_below: float = Field(0.95, ge=0.0, le=1.0)
    # LLM judge details. json mode: how structured output is requested; "auto" picks per provider
    # ("llamacpp" = response_format json_object + schema in extra_body, for llama.cpp's server).
    llm_json_mode: Literal["auto", "json_schema", "json_object", "llamacpp", "none"] = "auto"
    llm_retry_initial_s: float = 1.0  # first backoff wait on transient errors (exponential, jittered)
    llm_retry_max_s: float = 20.0
    llm_repair_retries: int = 1  # re-asks with the error shown when output is invalid, before falling back
    # Where the judge's instructions go: a system message, or the head of the user turn for chat templates
    # that drop system messages (llama-cpp-python's "gemma" format does).
    llm_system_prompt: Literal["system", "user"] = "system"

    # Scale-out (`--ray`, the `scale` extra): actors in a Ray build's embedding pool and a Ray eval's pool
    # (None: one per CPU the cluster has), and CPUs a local Ray instance gets (None: every core here).
    ray_workers: int | None = Field(None, ge=1)
    ray_local_cpus: int | None = Field(None, ge=1)

    # Service
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 64_000
    max_claim_chars: int = 1_000
    max_batch: int = 32
    max_extract_chars: int = 50_000
    queue_size: int = 32
    workers: int = 2
    # Named keys with roles, as JSON {name: {"key", "roles"}}; API_KEY above stays a key named "default" with
    # every role. Only the name is ever stored with a verdict.
    api_keys: dict[str, ApiKeySpec] = Field(default_factory=dict)

    # Verdict store (factcheck/store/): every served verdict is recorded. None: SQLite beside the index
    # (<index_dir>/verdicts.sqlite); or any SQLAlchemy URL, postgresql://... for several replicas.
    store_verdicts: bool = True
    db_url: str | None = None
    db_connect_timeout_s: float = Field(3.0, gt=0)
    # After a failed connection the store is not tried again for this long: /check answers `stored: false`
    # at once instead of waiting for a dead database on every request.
    db_retry_after_s: float = Field(5.0, ge=0)
    # ClaimReview output: the publisher, and the rating each published label gets (1 worst .. 5 best).
    claimreview_author: str = "factcheck"
    claimreview_author_url: str | None = None
    claimreview_ratings: dict[RatedLabel, RatingSpec] = Field(default_factory=lambda: dict(DEFAULT_RATINGS))

    @field_validator("claimreview_ratings")
    @classmethod
    def _every_label_rated(cls, v: dict[RatedLabel, RatingSpec]) -> dict[RatedLabel, RatingSpec]:
        """A partial mapping keeps the default rating for the labels it leaves out."""
        return {**DEFAULT_RATINGS, **v}

    def resolved_index_dir(self) -> Path:
        """The index directory as an absolute path."""
        return self.index_dir.expanduser().resolve()

    def resolved_db_url(self) -> str:
        """The verdict store's URL: FACTCHECK_DB_URL, or a SQLite file beside the index."""
        return self.db_url or f"sqlite:///{self.resolved_index_dir() / 'verdicts.sqlite'}"


def settings_from_args(args: Any) -> Settings:
    """Settings from the environment, with the command line's `--index` and `--judge` overriding them."""
    overrides: dict[str, Any] = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    if getattr(args, "judge", None):
        overrides["judge"] = args.judge
    return Settings(**overrides)
