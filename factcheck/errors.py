"""Domain errors; translated to HTTP / exit codes only at the edges (api, cli)."""

from __future__ import annotations


class FactcheckError(Exception):
    """Base of every domain error; `code` is the stable machine-readable name."""

    code = "factcheck_error"


class InputError(FactcheckError):
    """The caller gave something unusable (bad path, empty claim, bad format)."""

    code = "bad_input"


class IngestError(InputError):
    """A document could not be read or held no text."""

    code = "ingest_error"


class IndexMissingError(FactcheckError):
    """No index at the configured location."""

    code = "index_missing"


class IndexCorruptError(FactcheckError):
    """The index files disagree with their manifest."""

    code = "index_corrupt"


class EmbedderMismatchError(FactcheckError):
    """The index was built with a different embedder than the one configured."""

    code = "embedder_mismatch"


class ArticleNotFoundError(FactcheckError):
    """No article with that id in the index."""

    code = "article_not_found"


class ModelError(FactcheckError):
    """A model (LLM or verifier) failed or returned unusable output; keeps the raw text."""

    code = "model_error"

    def __init__(self, message: str, raw: str | None = None):
        super().__init__(message)
        self.raw = raw


class LLMUnavailableError(ModelError):
    """The LLM could not be reached after retries."""

    code = "llm_unavailable"


class ScaleError(FactcheckError):
    """A `--ray` run cannot start: the scale extra is not installed, or the Ray address is bad or unreachable."""

    code = "scale_unavailable"


class OverloadedError(FactcheckError):
    """The work queue is full; try again later."""

    code = "overloaded"

    def __init__(self, message: str = "server busy", retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class VerdictNotFoundError(FactcheckError):
    """No stored verdict with that id."""

    code = "verdict_not_found"


class StaleReviewError(FactcheckError):
    """A review was based on a version of the record that has changed since."""

    code = "stale_review"


class StoreUnavailableError(FactcheckError):
    """The verdict database cannot be reached or written."""

    code = "store_unavailable"


class ForbiddenError(FactcheckError):
    """The API key is valid but lacks the role this action needs."""

    code = "forbidden"
