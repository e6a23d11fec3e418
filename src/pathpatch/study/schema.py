"""The study file's schema: what each table and key of a study holds, checked by pydantic.

A study file (TOML) has the tables ``[study]``, ``[model]``, ``[data]`` (with ``[data.splits.*]``),
``[settings]``, ``[hypotheses]``, ``[steps.*]``, ``[[claims]]``, ``[sweeps.*]`` and
``[robustness]``; the README documents each key with a complete example. Every model here is
frozen, refuses unknown keys and takes values as TOML writes them (strict: no string is read as
a number). Every default is stated here, and a run records the study with its defaults filled
in (:meth:`StudySpec.resolved`), so nothing a result depends on is hidden.

This module checks shapes and ranges only. What needs the whole study (names that refer to
each other, sweep keys, patterns against the model's graph) is checked by :mod:`.check`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DTYPES",
    "ModelSpec",
    "Split",
    "DataSpec",
    "Settings",
    "Overrides",
    "Paths",
    "ScoreStep",
    "LadderStep",
    "ProbeStep",
    "ScanStep",
    "TraceStep",
    "AcdcStep",
    "EapStep",
    "PathsStep",
    "Step",
    "DISCOVERY",
    "Claim",
    "Sweep",
    "Robustness",
    "StudyInfo",
    "StudySpec",
]

DTYPES = ("float32", "float64", "bfloat16", "float16")
Scalar = str | int | float | bool
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_. +()-]*$")]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ModelSpec(_Table):
    """``[model]``: exactly one of ``name`` (a shipped model such as ``"induction-2l"``, or a
    Hugging Face name, read from the local cache only) and ``path`` (a model directory, relative
    to the study file); ``revision`` pins a Hugging Face revision; ``dtype`` and ``device``
    (default ``"float32"`` on ``"cpu"``) are where the study evaluates."""

    name: str | None = None
    path: str | None = None
    revision: str | None = None
    dtype: Literal["float32", "float64", "bfloat16", "float16"] = "float32"
    device: str = "cpu"

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of name (a shipped or Hugging Face model) and path (a directory)")
        if self.revision is not None and self.name is None:
            raise ValueError("revision pins a Hugging Face model given by name, not a directory")
        return self


class Split(_Table):
    """``[data.splits.NAME]``: the rows ``"a:b"`` of the drawn examples (Python slice bounds,
    either may be left out), or ``sample`` of them drawn without replacement with ``seed``."""

    rows: str = Field(":", pattern=r"^\s*-?\d*\s*:\s*-?\d*\s*$")
    sample: int | None = Field(None, ge=2)
    seed: int = Field(0, ge=0)


class DataSpec(_Table):
    """``[data]``: where sequences come from, which are drawn, where the metric reads, and how
    x_ref is paired with x_new.

    ``source``: ``"heldout"`` (the shipped model's held-out sequences), a token file
    (``.safetensors`` with a ``tokens`` tensor, or ``.npy``; ``[sequence, pos]`` ints; relative to
    the study file), or ``"task:repeated-tokens"`` (random tokens repeated once, ``length``
    tokens). ``length``: keep the first ``length`` tokens of each sequence (a task's length).
    ``targets``: ``"every"`` position but the last, ``"last"`` (the position before the last
    token), or ``"induction-candidates"`` (the current token occurred earlier, followed there by
    the token that follows now). ``examples`` sequences are drawn, with ``select_seed``, among
    those that hold a target. ``pairing``: ``"derangement"`` (x_new is another sequence of the
    same split) or ``"pool"`` (x_new is one of the source's sequences that were not drawn, with
    replacement), seeded by ``pairing_seed``. ``splits``: named parts of the drawn examples that steps
    run on; ``all`` (every example) is always one of them."""

    source: str = "heldout"
    length: int | None = Field(None, ge=2)
    examples: int = Field(ge=2)
    select_seed: int = Field(0, ge=0)
    targets: Literal["every", "last", "induction-candidates"] = "every"
    pairing: Literal["derangement", "pool"] = "derangement"
    pairing_seed: int = Field(0, ge=0)
    splits: dict[Name, Split] = Field(default_factory=lambda: {"all": Split()})

    @model_validator(mode="before")
    @classmethod
    def _all(cls, data: Any) -> Any:
        """Every study has the split ``all`` (every drawn example) unless it declares its own."""
        if isinstance(data, dict) and isinstance(data.get("splits"), dict) and "all" not in data["splits"]:
            return {**data, "splits": {"all": {}, **data["splits"]}}
        return data


class Settings(_Table):
    """``[settings]``: how every step evaluates and summarises (those of :func:`pathpatch.score`):
    ``delta`` (``"kl"``, ``"loss"``, ``"logit_diff"``), ``ablation`` (``"resample"``, ``"mean"``,
    ``"zero"``), ``level`` and ``n_boot`` of the bootstrap intervals with its ``seed`` (also the
    searches' seed), ``batch_size`` and ``max_memory`` (bytes or a size such as ``"4GB"``)."""

    delta: Literal["kl", "loss", "logit_diff"] = "kl"
    ablation: Literal["resample", "mean", "zero"] = "resample"
    level: float = Field(0.95, gt=0, lt=1)
    n_boot: int = Field(1000, ge=1)
    seed: int = Field(0, ge=0)
    batch_size: int = Field(32, ge=1)
    max_memory: int | str | None = None


class Overrides(_Table):
    """A step's ``settings = {...}``: some of ``[settings]``, for that step only."""

    delta: Literal["kl", "loss", "logit_diff"] | None = None
    ablation: Literal["resample", "mean", "zero"] | None = None
    level: float | None = Field(None, gt=0, lt=1)
    n_boot: int | None = Field(None, ge=1)
    seed: int | None = Field(None, ge=0)
    batch_size: int | None = Field(None, ge=1)
    max_memory: int | str | None = None


class Paths(_Table):
    """A hypothesis written as a table: ``paths`` (patterns, their union), or ``subgraph_of``
    (another hypothesis's edges as a subgraph, which holds every path those edges assemble), or
    ``edges`` (a subgraph of the listed edges)."""

    paths: list[str] | None = None
    subgraph_of: str | None = None
    edges: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> Paths:
        if sum(x is not None for x in (self.paths, self.subgraph_of, self.edges)) != 1:
            raise ValueError("a hypothesis table holds exactly one of paths, subgraph_of and edges")
        return self


class _Step(_Table):
    split: str = "all"
    settings: Overrides = Field(default_factory=Overrides)


class ScoreStep(_Step):
    """Score hypotheses (declared ones, or the results of earlier steps, by name; default: every
    declared hypothesis) with intervals."""

    kind: Literal["score"]
    hypotheses: list[str] | None = None


class LadderStep(_Step):
    """The ladder of :func:`pathpatch.ladder.run_ladder`: ``base`` (a declared hypothesis given
    as patterns) refined by each of ``groups`` (name -> patterns) alone, then the best compact
    set; ``quick_boot`` resamples for the refinements and prefixes. Its result, as a hypothesis,
    is the best compact set."""

    kind: Literal["ladder"]
    base: str
    label: str | None = None
    groups: dict[str, list[str]] = Field(min_length=1)
    tolerance: float = Field(0.02, ge=0)
    max_prefix: int = Field(10, ge=1)
    quick_boot: int = Field(100, ge=1)


class ProbeStep(_Step):
    """A behavioural probe of the model: ``"induction"`` (loss on repeated random tokens and the
    previous-token and induction scores of every head)."""

    kind: Literal["probe"]
    probe: Literal["induction"] = "induction"


class ScanStep(_Step):
    """A scan: ``"nodes"``, ``"edges"`` (every edge, or those into ``receiver``), ``"senders"``
    (into ``receivers``) or ``"paths"`` (``paths``, default every path); ``mode`` defaults to
    the scan's own (restore for nodes and paths, ablate for edges and senders)."""

    kind: Literal["scan"]
    scan: Literal["nodes", "edges", "senders", "paths"]
    mode: Literal["restore", "ablate"] | None = None
    metric: Literal["proportion_explained", "aue", "loss_recovered"] = "proportion_explained"
    receiver: str | None = None
    receivers: list[str] | None = None
    paths: list[str] | None = None

    @model_validator(mode="after")
    def _receivers(self) -> ScanStep:
        if self.scan == "senders" and not self.receivers:
            raise ValueError("a senders scan needs receivers, e.g. receivers = ['a1.0']")
        return self


_KINDS: tuple[Literal["resid", "attn", "mlp"], ...] = ("resid", "attn", "mlp")


class TraceStep(_Step):
    """Causal tracing over (kind, layer, position)."""

    kind: Literal["trace"]
    mode: Literal["restore", "ablate"] = "restore"
    kinds: list[Literal["resid", "attn", "mlp"]] = Field(default_factory=lambda: list(_KINDS))
    layers: list[int] | None = None
    positions: list[int] | None = None


class AcdcStep(_Step):
    """ACDC (:func:`pathpatch.acdc`) at ``threshold``; ``curve``: also the faithfulness curve of
    its edge scores."""

    kind: Literal["acdc"]
    threshold: float = Field(gt=0)
    curve: bool = False


class EapStep(_Step):
    """EAP (``kind = "eap"``) or EAP-IG (``"eap-ig"``, ``ig_steps`` gradients), keeping the top
    ``edges`` edges as the circuit; ``curve``: its faithfulness curve (default on)."""

    kind: Literal["eap", "eap-ig"]
    edges: int = Field(ge=1)
    ig_steps: int = Field(5, ge=1)
    curve: bool = True


class PathsStep(_Step):
    """The path-level search (:func:`pathpatch.discover_paths`); ``curve``: also the faithfulness
    of its patterns' prefixes, most important first."""

    kind: Literal["paths"]
    target: float = Field(0.9, gt=0, le=1)
    max_steps: int = Field(16, ge=3)
    min_gain: float | None = Field(None, ge=0)
    max_candidates: int = Field(256, ge=1)
    curve: bool = False


Step = Annotated[
    ScoreStep | LadderStep | ProbeStep | ScanStep | TraceStep | AcdcStep | EapStep | PathsStep,
    Field(discriminator="kind"),
]
DISCOVERY = ("acdc", "eap", "eap-ig", "paths")


class Claim(_Table):
    """``[[claims]]``, declared before the run: ``hypothesis`` (scored by the score ``step``;
    default the one score step that scores it) and its ``metric`` at least ``at_least`` (judged
    on the interval's lower bound) or at most ``at_most`` (on the upper bound); or ``circuit`` (a
    discovery step) and its ``metric`` ``"n_edges"`` or ``"n_patterns"``."""

    name: str | None = None
    hypothesis: str | None = None
    circuit: str | None = None
    step: str | None = None
    metric: str = "proportion_explained"
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _shape(self) -> Claim:
        if (self.hypothesis is None) == (self.circuit is None):
            raise ValueError("a claim is about exactly one of hypothesis (a scored hypothesis) and circuit")
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("a claim states exactly one of at_least and at_most")
        return self

    @property
    def bound(self) -> float:
        """The number the claim compares with."""
        value = self.at_least if self.at_least is not None else self.at_most
        if value is None:  # the validator refuses such a claim
            raise ValueError("a claim states exactly one of at_least and at_most")
        return value


class Sweep(_Table):
    """``[sweeps.NAME]``: run ``steps`` (default every step; steps they read are added) in every
    cell of ``grid``, a table of dotted study keys (``"settings.ablation"``,
    ``"steps.acdc.threshold"``, ``"data.splits.search.seed"``) to lists of values."""

    steps: list[str] | None = None
    grid: dict[str, Annotated[list[Scalar], Field(min_length=1)]] = Field(min_length=1)


class Robustness(_Table):
    """``[robustness]``: ``core``, the inclusion frequency at or above which an edge belongs to
    a discovery's robust core (default 0.9)."""

    core: float = Field(0.9, gt=0, le=1)


class StudyInfo(_Table):
    """``[study]``: its ``name``, a ``description``, the default output folder ``out`` (default
    ``results/NAME``), and ``report``, the score step whose table heads the report page (default
    the last score step)."""

    name: Name
    description: str = ""
    out: str | None = None
    report: str | None = None


class StudySpec(_Table):
    """A whole study file."""

    study: StudyInfo
    model: ModelSpec
    data: DataSpec
    settings: Settings = Field(default_factory=Settings)
    hypotheses: dict[Name, str | list[str] | Paths] = Field(default_factory=dict)
    steps: dict[Name, Step] = Field(min_length=1)
    claims: list[Claim] = Field(default_factory=list)
    sweeps: dict[Name, Sweep] = Field(default_factory=dict)
    robustness: Robustness = Field(default_factory=Robustness)

    def resolved(self) -> dict[str, Any]:
        """The study as JSON values with every default filled in (what run.json records)."""
        return self.model_dump(mode="json")
