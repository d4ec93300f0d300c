"""Inside the trainer image: llama.cpp's convert_hf_to_gguf.py, for the architectures taustack's own writer lacks.

The converter names a BPE tokenizer's pre-tokenizer by hashing how it splits a fixed text, and stops on a hash it
does not know (a tokenizer trained locally, or a model newer than the vendored converter). Here such a tokenizer
gets the pre-tokenizer its tokenizer.json declares when that is GPT-2's byte-level split, else llama.cpp's
"default" one, with a warning, instead of stopping.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger("taustack.hf_to_gguf")


def declared_pre_tokenizer(tokenizer_json: dict[str, Any]) -> str:
    """llama.cpp's name for the split a tokenizer.json declares: "gpt-2" for a plain ByteLevel one."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    return "default"


def convert(converter: Path, hf_dir: Path, out: Path, outtype: str = "f16") -> None:
    """Run the converter's main() on hf_dir, writing out (a temporary name first, renamed when complete)."""
    sys.path.insert(0, str(converter.parent))  # its `conversion` package and gguf-py sit beside it
    spec = importlib.util.spec_from_file_location("convert_hf_to_gguf", converter)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{converter}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from conversion.base import TextModel  # type: ignore[import-not-found]

    known = TextModel.get_vocab_base_pre

    def default_when_unknown(self: Any, tokenizer: Any) -> str:
        try:
            return str(known(self, tokenizer))
        except NotImplementedError:
            path = Path(self.dir_model) / "tokenizer.json"
            declared = declared_pre_tokenizer(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() \
                else "default"
            logger.warning("unknown BPE pre-tokenizer hash: the GGUF gets llama.cpp's %r one", declared)
            return declared

    TextModel.get_vocab_base_pre = default_when_unknown
    partial = out.with_name(f".{out.name}.partial")
    argv = sys.argv
    sys.argv = [str(converter), str(hf_dir), "--outfile", str(partial), "--outtype", outtype]
    try:
        module.main()
    finally:
        sys.argv = argv
    partial.replace(out)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    convert(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), *(sys.argv[4:5] or []))
