"""pytest plugin for mutation runs (``-p fastfail``): Hypothesis stops at the first failing example
instead of shrinking it (a mutant only needs to be seen failing), and keeps no example database."""

from hypothesis import Phase, settings

settings.register_profile(
    "mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None, print_blob=False
)
settings.load_profile("mutation")
