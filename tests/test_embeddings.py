"""Tests for the offline MiniLM embedder and its chromadb adapter."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from langmem_mcp.index import embeddings as emb
from langmem_mcp.index.embeddings import (
    EmbeddingModelError,
    MiniLMOnnxEmbedder,
    chroma_embedding_function,
    make_embedder,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def embedder() -> MiniLMOnnxEmbedder:
    e = MiniLMOnnxEmbedder()
    e.load()
    return e


def _run_python(code: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120
    )


def test_shape_dtype_and_unit_norm(embedder: MiniLMOnnxEmbedder) -> None:
    out = embedder.embed(["hello world", "a second, somewhat longer sentence", "x"])
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert embedder.dim == 384 and embedder.model_id == "all-MiniLM-L6-v2-onnx-int8"
    assert isinstance(embedder, emb.Embedder)


def test_empty_list_does_not_load_anything() -> None:
    lazy = MiniLMOnnxEmbedder()
    out = lazy.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32
    assert not lazy.loaded


def test_empty_string_is_cls_sep(embedder: MiniLMOnnxEmbedder) -> None:
    assert embedder.tokenize([""]) == [[101, 102]]
    out = embedder.embed(["", "not empty"])
    assert np.isfinite(out).all()
    assert abs(float(np.linalg.norm(out[0])) - 1.0) < 1e-5


def test_tokenizer_matches_bert_uncased(embedder: MiniLMOnnxEmbedder) -> None:
    # Well-known bert-base-uncased ids: lower-casing and [CLS]/[SEP] must match the model's training.
    assert embedder.tokenize(["Hello World"]) == [[101, 7592, 2088, 102]]


def test_long_text_is_truncated(embedder: MiniLMOnnxEmbedder) -> None:
    long_text = " ".join(f"word{i} and more text" for i in range(400))
    assert len(embedder.tokenize([long_text])[0]) == 256
    out = embedder.embed([long_text])
    assert out.shape == (1, 384)
    # Anything past the 256-token window must not change the embedding.
    longer = long_text + " completely different tail about volcanoes" * 50
    np.testing.assert_allclose(embedder.embed([longer])[0], out[0], atol=1e-6)


def test_single_string_is_rejected(embedder: MiniLMOnnxEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("not a list")  # type: ignore[arg-type]


def test_padding_invariance(embedder: MiniLMOnnxEmbedder) -> None:
    short = "I like cats."
    long_text = "This sentence is considerably longer and talks about many unrelated topics. " * 12
    alone = embedder.embed([short])[0]
    batched = embedder.embed([long_text, short, "medium length sentence here"])
    np.testing.assert_allclose(batched[1], alone, atol=1e-4)


def test_order_restored_across_batches() -> None:
    small = MiniLMOnnxEmbedder(batch_size=2)
    texts = [("word " * n).strip() + f" {n}" for n in (9, 1, 7, 3, 5, 2, 8)]
    together = small.embed(texts)
    one_by_one = np.stack([small.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-4)


def test_semantic_sanity(embedder: MiniLMOnnxEmbedder) -> None:
    anchor, near, far = embedder.embed(
        [
            "Steph Curry is my favorite basketball player",
            "Who is my favourite NBA player?",
            "I bought tomatoes at the market",
        ]
    )
    assert float(anchor @ near) > float(anchor @ far) + 0.2


def test_thread_safe(embedder: MiniLMOnnxEmbedder) -> None:
    texts = [f"sentence number {i} about topic {i % 5}" for i in range(20)]
    expected = embedder.embed(texts)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(embedder.embed(texts))
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


def test_import_is_light_and_disables_telemetry() -> None:
    code = (
        "import os, sys, langmem_mcp.index.embeddings\n"
        "print([m for m in ('onnxruntime', 'tokenizers', 'chromadb') if m in sys.modules])\n"
        "print(os.environ.get('ORT_DISABLE_TELEMETRY'))\n"
    )
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "1"]


def test_sha256_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "MINILM_SHA256", "0" * 64)
    with pytest.raises(EmbeddingModelError, match="integrity"):
        MiniLMOnnxEmbedder().embed(["hello"])


def test_make_embedder_specs() -> None:
    assert isinstance(make_embedder("minilm-int8"), MiniLMOnnxEmbedder)
    assert isinstance(make_embedder(""), MiniLMOnnxEmbedder)
    assert make_embedder("chroma-default").model_id != MiniLMOnnxEmbedder.model_id  # lazy: no download yet
    with pytest.raises(EmbeddingModelError, match="Unknown"):
        make_embedder("word2vec")


def test_sentence_transformers_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = emb.importlib.util.find_spec
    monkeypatch.setattr(
        emb.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sentence_transformers" else real_find_spec(name, *a),
    )
    with pytest.raises(EmbeddingModelError, match="pip install sentence-transformers"):
        make_embedder("sentence-transformers:all-MiniLM-L6-v2")


def test_chroma_default_failure_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def no_network(self: object, input: object) -> object:
        raise ConnectionError("no route to host")

    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", no_network)
    with pytest.raises(EmbeddingModelError, match="chromadb's default embedding model"):
        make_embedder("chroma-default").embed(["hello"])


def test_chroma_collection_reopens(tmp_path: Path, embedder: MiniLMOnnxEmbedder) -> None:
    import chromadb

    ef = chroma_embedding_function(embedder)
    assert chroma_embedding_function(embedder).name() == ef.name()  # idempotent registration
    assert "/" not in str(ef.get_config())

    client = chromadb.PersistentClient(path=str(tmp_path))
    col = client.create_collection("memories", embedding_function=ef)
    col.add(
        ids=["a", "b"],
        documents=["Steph Curry is my favorite basketball player", "I bought tomatoes at the market"],
    )
    del col, client

    reopened = chromadb.PersistentClient(path=str(tmp_path)).get_collection("memories")
    res = reopened.query(query_texts=["Who is my favourite NBA player?"], n_results=1)
    assert res["ids"] == [["a"]]
    assert reopened.configuration_json["embedding_function"]["config"] == {"spec": "minilm-int8"}


def test_chroma_collection_reopens_in_fresh_process(tmp_path: Path, embedder: MiniLMOnnxEmbedder) -> None:
    """The real restart scenario: a new process must register the class before get_collection."""
    import chromadb

    client = chromadb.PersistentClient(path=str(tmp_path))
    col = client.create_collection("memories", embedding_function=chroma_embedding_function(embedder))
    col.add(ids=["a", "b"], documents=["I love hiking in the Alps", "My cat is called Tom"])
    del col, client

    code = (
        "import sys, chromadb\n"
        "from langmem_mcp.index.embeddings import ensure_chroma_registered\n"
        "ensure_chroma_registered()\n"
        f"col = chromadb.PersistentClient(path={str(tmp_path)!r}).get_collection('memories')\n"
        "print(col.query(query_texts=['what is the name of my pet?'], n_results=1)['ids'][0][0])\n"
    )
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "b"


def test_batches_group_similar_lengths_within_a_token_budget() -> None:
    from langmem_mcp.index.embeddings import BATCH_TOKENS, PADDING_SLACK, padded_batches

    lengths = [12, 250, 14, 13, 240, 60, 11, 256, 15] * 8
    batches = padded_batches(lengths, 32)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # each text once
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) <= 32 and (len(b) == 1 or len(b) * longest <= BATCH_TOKENS)
        assert len(b) * longest <= PADDING_SLACK * sum(lengths[i] for i in b) + longest
    # short texts (a search, concurrent writes) still batch 32 at a time
    assert [len(b) for b in padded_batches([20] * 64, 32)] == [32, 32]
    assert padded_batches([5000], 32) == [[0]]  # one text longer than the budget: alone
