"""Mechanical mutants shown to be equivalent (the same results for every input), with the reason.

Keyed by ``"<path> [<operator>] <before>  =>  <after>"`` (as ``mechanical.Mutant`` prints it
without the line), so a key survives edits elsewhere in the file.
"""

EQUIVALENT: dict[str, str] = {}
