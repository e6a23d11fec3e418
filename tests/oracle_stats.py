"""What the oracle property tests really drew: distinct hypotheses, and per ablation how many
reached the executor (planned at least one MIXED copy). Printed at the end of the session."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TALLIES: dict[str, Tally] = {}


@dataclass
class Tally:
    test: str
    draws: int = 0
    hypotheses: set[str] = field(default_factory=set)
    ablations: Counter[str] = field(default_factory=Counter)
    copies: int = 0

    @classmethod
    def of(cls, test: str) -> Tally:
        TALLIES[test] = tally = cls(test)
        return tally

    def add(self, members: set[str], ablation: str, mixed_copies: int) -> None:
        """One draw that was compared with the brute force after running MIXED copies; hypotheses
        count as distinct by what they mean (their set of paths), not by how they are written."""
        assert mixed_copies > 0
        self.draws += 1
        self.hypotheses.add(str(hash(frozenset(members))))
        self.ablations[ablation] += 1
        self.copies += mixed_copies

    def check(
        self,
        examples: int,
        ablations: tuple[str, ...] = ("resample", "mean", "zero"),
        each_ablation: int = 1,
        distinct: float = 0.75,
    ) -> None:
        """Every example reached the executor, most hypotheses differ, every ablation ran."""
        assert self.draws >= examples, f"{self.test}: only {self.draws} of {examples} examples ran MIXED copies"
        assert len(self.hypotheses) >= distinct * self.draws, self.line()
        assert all(self.ablations[a] >= each_ablation for a in ablations), self.line()

    def line(self) -> str:
        abl = " ".join(f"{a}={self.ablations[a]}" for a in ("resample", "mean", "zero"))
        return (
            f"{self.test}: {self.draws} executed, {len(self.hypotheses)} distinct hypotheses, {abl}, "
            f"{self.copies} MIXED copies"
        )
