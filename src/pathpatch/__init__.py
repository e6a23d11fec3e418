"""pathpatch: path patching for transformers (public API assembled at the end of this file)."""
