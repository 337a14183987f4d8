"""The local backend: the guard model in this process (transformers + torch).

:class:`LocalBackend` is the public name; the modules beside it are its parts: ``load``
(``from_pretrained``, device and dtype), ``tokenizer`` and ``inputs`` (token ids through the
chat template), ``images``, ``engine`` (batched passes, prefix KV reuse, ``generate``),
``fast`` (single-pass verdicts from label logits), ``answers`` and ``probe`` (the text the
model writes before each label, learned at load) and ``batcher`` (merges concurrent callers).
Importing this package needs neither torch nor transformers; loading a model does.
"""

from __future__ import annotations

from guard_core.backends.local.backend import DEFAULT_MODEL, DEMO_MODEL, LocalBackend, fixture_path

__all__ = ["DEFAULT_MODEL", "DEMO_MODEL", "LocalBackend", "fixture_path"]
