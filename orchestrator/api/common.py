"""Types every gridshift custom resource shares: the base model, bounded strings, conditions.

Wire names are camelCase. Acronyms stay upper-case as Kubernetes writes them (``shedKW``,
``latencySLOMilliseconds``), so such fields carry an explicit alias.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

GROUP = "gridshift.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
MAX_GENERATION = 2**53 - 1
"""Largest generation a JSON number carries exactly."""
WORKLOAD_LABEL = f"{GROUP}/workload"
MANAGED_LABEL = f"{GROUP}/managed"
"""Carried (value "true") by every object gridshift creates in a member or edge cluster: the
mark of what gridshift may change and delete there, and nothing else."""
"""Label naming the InferenceWorkload on everything gridshift makes for it (Migrations, and
Deployments, Services and pods in the member clusters)."""

DNSLabel = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
]
"""A Kubernetes object name that is also a DNS label: cluster, zone and workload names."""

DNSSubdomain = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]
"""A Kubernetes object name (DNS subdomain): Secrets, Migrations, DemandResponseEvents."""

ShortText = Annotated[str, StringConstraints(max_length=256)]
Message = Annotated[str, StringConstraints(max_length=4096)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=253)]
HHMM = Annotated[
    str,
    StringConstraints(
        min_length=5, max_length=5, pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
    ),
]


class Model(BaseModel):
    """Base of every API model: camelCase on the wire, Python names in code."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        use_attribute_docstrings=False,
    )

    def wire(self) -> dict[str, Any]:
        """This object as Kubernetes stores it: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Condition(Model):
    """One observation of an aspect of the object's state (Kubernetes API conventions)."""

    type: Annotated[
        str,
        StringConstraints(min_length=1, max_length=316, pattern=r"^[A-Z][A-Za-z0-9]*$"),
    ] = Field(description="type of the condition, CamelCase, for example Reachable or Ready.")
    status: Literal["True", "False", "Unknown"] = Field(
        description="status of the condition: True, False or Unknown."
    )
    reason: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
        ),
    ] = Field(description="reason is a CamelCase word saying why the condition is what it is.")
    message: Message = Field(
        default="", description="message is for people: what happened and what to do about it."
    )
    last_transition_time: datetime = Field(
        description="lastTransitionTime is when the status last changed."
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        le=MAX_GENERATION,
        description="observedGeneration is the metadata.generation the condition was set for.",
    )


Conditions = Annotated[
    list[Condition],
    Field(
        max_length=16,
        description="conditions of the object, one per type (Kubernetes API conventions).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


class SecretKeyRef(Model):
    """A key of a Secret in a namespace."""

    name: DNSSubdomain = Field(description="name of the Secret.")
    namespace: DNSLabel = Field(description="namespace of the Secret.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="kubeconfig", description="key within the Secret's data."
    )


class LabelSelectorRequirement(Model):
    """One requirement of a label selector."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=317)] = Field(
        description="key is the label key the requirement applies to."
    )
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="operator relates the key to the values."
    )
    values: list[Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=list,
        max_length=64,
        description="values for In and NotIn; empty for Exists and DoesNotExist.",
    )


class LabelSelector(Model):
    """A Kubernetes label selector; an empty selector matches everything."""

    match_labels: dict[
        Annotated[str, StringConstraints(max_length=317)],
        Annotated[str, StringConstraints(max_length=63)],
    ] = Field(
        default_factory=dict,
        max_length=32,
        description="matchLabels: every label here must be present with this value.",
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list,
        max_length=32,
        description="matchExpressions: every requirement here must hold.",
    )
