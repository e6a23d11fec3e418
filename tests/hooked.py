"""Hook-based interventions on Hugging Face models, the baseline that tracing tests compare with."""

from __future__ import annotations

import torch

__all__ = ["restore_with_hook"]


def restore_with_hook(hf, module, ref, new, t):  # type: ignore[no-untyped-def]
    """Run x_new with ``module``'s output at position ``t`` replaced by its output on x_ref."""
    store = {}

    def first(out):  # type: ignore[no-untyped-def]
        return out[0] if isinstance(out, tuple) else out

    def save(mod, inp, out):  # type: ignore[no-untyped-def]
        store["clean"] = first(out).detach().clone()

    def patch(mod, inp, out):  # type: ignore[no-untyped-def]
        value = first(out).clone()
        value[:, t] = store["clean"][:, t]
        return (value, *out[1:]) if isinstance(out, tuple) else value

    with torch.no_grad():
        handle = module.register_forward_hook(save)
        hf(ref)
        handle.remove()
        handle = module.register_forward_hook(patch)
        logits = hf(new).logits
        handle.remove()
    return logits
