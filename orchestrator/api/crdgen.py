"""Generate the CustomResourceDefinitions in ``manifests/crds/`` from the pydantic models.

    python -m orchestrator.api.crdgen [--check] [OUTPUT_DIR]

pydantic writes JSON Schema (draft 2020-12); Kubernetes wants a structural OpenAPI v3 schema. The
conversion inlines ``$ref``, turns ``Optional[X]`` into X (absent means unset), turns numeric
``exclusiveMinimum`` into OpenAPI 3.0's boolean form, and keeps the ``x-kubernetes-*`` markers
the models carry (CEL rules, list types, preserved unknown fields).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from orchestrator.api.common import GROUP, VERSION, Model
from orchestrator.api.kinds import CATEGORY, KINDS, Kind

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "manifests" / "crds"
KEPT = {
    "type", "description", "properties", "required", "items", "enum", "format", "default",
    "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "minProperties",
    "maxProperties", "pattern", "additionalProperties", "nullable",
}  # fmt: skip
Schema = dict[str, Any]


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Inline a $ref (or a one-element allOf), keeping the referring node's own keys."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_resolve(target, defs), **rest}
    if "allOf" in node and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return {**_resolve(node["allOf"][0], defs), **rest}
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {len(options)} types in a CRD: {node}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return {**_resolve(options[0], defs), **rest}
    return node


def to_openapi(node: Schema, defs: dict[str, Schema]) -> Schema:
    """One pydantic JSON Schema node as a structural OpenAPI v3 node."""
    node = _resolve(node, defs)
    out: Schema = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            out[key] = value
        elif key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "default" and value is None:
            continue  # Optional fields: absent means unset
        elif key in KEPT:
            out[key] = value
    if "properties" in out:
        out["properties"] = {k: to_openapi(v, defs) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = to_openapi(out["items"], defs)
    extra = out.get("additionalProperties")
    if extra is True:
        del out["additionalProperties"]
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif extra is False:
        del out["additionalProperties"]
    elif isinstance(extra, dict):
        out["additionalProperties"] = to_openapi(extra, defs)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
    if out.get("type") == "integer":
        out.setdefault("format", "int64")
    return _ordered(out)


def _ordered(node: Schema) -> Schema:
    """description and type first, the rest by name: stable, readable YAML."""
    head = [k for k in ("description", "type") if k in node]
    return {k: node[k] for k in head + sorted(k for k in node if k not in head)}


def model_schema(model: type[Model]) -> Schema:
    """The structural OpenAPI v3 schema of a model, every $ref inlined."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return to_openapi(raw, defs)


def _columns(kind: Kind) -> list[Schema]:
    columns = []
    for column in kind.columns:
        entry: Schema = {
            "name": column.name,
            "type": column.type,
            "jsonPath": column.json_path,
            "description": column.description,
        }
        if column.priority:
            entry["priority"] = column.priority
        columns.append(entry)
    return columns


def crd(kind: Kind) -> Schema:
    """The CustomResourceDefinition of one kind."""
    root: Schema = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "apiVersion of this object: gridshift.io/v1alpha1.",
            },
            "kind": {"type": "string", "description": f"kind of this object: {kind.kind}."},
            "metadata": {"type": "object"},
            "spec": {
                **model_schema(kind.spec),
                "description": kind.spec.__doc__.strip() if kind.spec.__doc__ else kind.kind,
            },
            "status": {
                **model_schema(kind.status),
                "description": kind.status.__doc__.strip() if kind.status.__doc__ else kind.kind,
            },
        },
    }
    if kind.dns_label_name:
        root["x-kubernetes-validations"] = [
            {
                "rule": "self.metadata.name.size() <= 63",
                "message": "metadata.name must be at most 63 characters (it is used as a label)",
            }
        ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "gridshift"},
        },
        "spec": {
            "group": GROUP,
            "scope": kind.scope,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": [kind.short_name],
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _columns(kind),
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


HEADER = "# Generated by `python -m orchestrator.api.crdgen` from orchestrator/api. Do not edit.\n"


def render(kind: Kind) -> str:
    """The YAML file of one kind's CRD."""
    return HEADER + yaml.safe_dump(crd(kind), sort_keys=False, width=100)


def file_name(kind: Kind) -> str:
    return f"{GROUP}_{kind.plural}.yaml"


def write(output: Path) -> list[Path]:
    """Write every CRD into ``output``; return the files written."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = output / file_name(kind)
        path.write_text(render(kind))
        written.append(path)
    return written


def stale(output: Path) -> list[str]:
    """Files in ``output`` that differ from what the generator writes."""
    return [
        file_name(kind)
        for kind in KINDS
        if not (output / file_name(kind)).is_file()
        or (output / file_name(kind)).read_text() != render(kind)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1] if __doc__ else None)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if the files are out of date")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.output)
        for name in outdated:
            print(f"out of date: {args.output / name}", file=sys.stderr)
        return 1 if outdated else 0
    for path in write(args.output):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
