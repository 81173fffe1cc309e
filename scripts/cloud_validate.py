#!/usr/bin/env python3
"""Validates portreeve's cloud documents against the providers' own models.

Usage: cloud_validate.py KIND FILE, KIND one of

  aws-cli       `portreeve render --target aws`: each input checked by
                botocore's ParamValidator against the EC2 model's
                CreateSecurityGroup and AuthorizeSecurityGroupIngress input
                shapes (types, ranges, required and unknown members).
  aws-describe  a describe-security-groups document, checked against the
                DescribeSecurityGroups output shape, so that what
                `portreeve cloud check` reads is what AWS writes.
  gcp           `portreeve render --target gcp`: each body checked against
                the `Firewall` schema of the compute v1 discovery document
                google-api-python-client ships (types, formats, enums, the
                name pattern, fields required by firewalls.insert; unknown
                and output-only fields refused).
  terraform     `portreeve render --target aws-terraform`: structure only
                (no provider schema is available offline): the resource,
                its arguments, and every inline block's arguments and types.

Prints `ok: …` and exits 0, or prints each problem and exits 1. Runs in the
venv scripts/cloud_models.sh makes; reads local files only.
"""

import ipaddress
import json
import os
import re
import sys


def aws_cli(doc):
    from botocore.session import get_session
    from botocore.validate import ParamValidator

    model = get_session().get_service_model("ec2")
    operations = ["CreateSecurityGroup", "AuthorizeSecurityGroupIngress"]
    problems = []
    if not isinstance(doc, dict) or sorted(doc) != sorted(operations):
        return [f"expected an object with exactly {operations}, got {sorted(doc)}"]
    for operation in operations:
        shape = model.operation_model(operation).input_shape
        report = ParamValidator().validate(doc[operation], shape)
        if report.has_errors():
            problems.append(f"{operation}: {report.generate_report()}")
    return problems


def aws_describe(doc):
    from botocore.session import get_session
    from botocore.validate import ParamValidator

    shape = get_session().get_service_model("ec2").operation_model(
        "DescribeSecurityGroups"
    ).output_shape
    report = ParamValidator().validate(doc, shape)
    return [report.generate_report()] if report.has_errors() else []


def discovery_document():
    import googleapiclient

    path = os.path.join(
        os.path.dirname(googleapiclient.__file__),
        "discovery_cache",
        "documents",
        "compute.v1.json",
    )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


INT32 = (-(2**31), 2**31 - 1)


def check_value(value, schema, schemas, where, problems):
    """Checks `value` against a discovery `schema`, appending problems."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object")
            return
        properties = schema.get("properties", {})
        for name, member in value.items():
            if name not in properties:
                problems.append(f"{where}.{name}: unknown field")
                continue
            check_value(member, properties[name], schemas, f"{where}.{name}", problems)
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"{where}: expected an array")
            return
        for i, item in enumerate(value):
            check_value(item, schema["items"], schemas, f"{where}[{i}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string")
            return
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
        if schema.get("format") in ("uint64", "int64") and not re.fullmatch(r"-?\d+", value):
            problems.append(f"{where}: {value!r} is not a {schema['format']}")
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            problems.append(f"{where}: {value!r} does not match {schema['pattern']}")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{where}: expected an integer")
        elif schema.get("format") == "int32" and not INT32[0] <= value <= INT32[1]:
            problems.append(f"{where}: {value} is out of int32 range")
        elif schema.get("format") == "uint32" and not 0 <= value <= 2**32 - 1:
            problems.append(f"{where}: {value} is out of uint32 range")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{where}: expected a boolean")
    else:
        problems.append(f"{where}: the schema's type {kind!r} is not handled")


def gcp(doc):
    discovery = discovery_document()
    schemas = discovery["schemas"]
    firewall = schemas["Firewall"]
    problems = []
    if not isinstance(doc, list) or not doc:
        return ["expected a non-empty array of firewall bodies"]
    for i, body in enumerate(doc):
        where = f"[{i}]"
        check_value(body, firewall, schemas, where, problems)
        if not isinstance(body, dict):
            continue
        for name, prop in firewall["properties"].items():
            required = prop.get("annotations", {}).get("required", [])
            if "compute.firewalls.insert" in required and name not in body:
                problems.append(f"{where}.{name}: required by firewalls.insert")
            output_only = prop.get("readOnly") or "[Output Only]" in prop.get("description", "")
            if name in body and output_only:
                problems.append(f"{where}.{name}: output only, not for insert")
    return problems


BLOCK = {
    "description": str,
    "from_port": int,
    "to_port": int,
    "protocol": str,
    "cidr_blocks": list,
    "ipv6_cidr_blocks": list,
    "prefix_list_ids": list,
    "security_groups": list,
    "self": bool,
}
GROUP = {"name", "description", "ingress", "egress", "tags", "vpc_id"}


def check_block(block, where, problems):
    if not isinstance(block, dict) or set(block) != set(BLOCK):
        problems.append(f"{where}: a JSON inline block must set exactly {sorted(BLOCK)}")
        return
    for name, kind in BLOCK.items():
        if not isinstance(block[name], kind) or (kind is int and isinstance(block[name], bool)):
            problems.append(f"{where}.{name}: expected {kind.__name__}")
            return
    if not 0 <= block["from_port"] <= block["to_port"] <= 65535:
        problems.append(f"{where}: ports {block['from_port']}-{block['to_port']}")
    if block["protocol"] not in ("tcp", "udp", "-1"):
        problems.append(f"{where}.protocol: {block['protocol']!r}")
    for name, family in (("cidr_blocks", 4), ("ipv6_cidr_blocks", 6)):
        for cidr in block[name]:
            try:
                network = ipaddress.ip_network(cidr)
            except ValueError as e:
                problems.append(f"{where}.{name}: {e}")
                continue
            if network.version != family:
                problems.append(f"{where}.{name}: {cidr} is not IPv{family}")


def terraform(doc):
    problems = []
    try:
        groups = doc["resource"]["aws_security_group"]
    except (KeyError, TypeError):
        return ["expected resource.aws_security_group"]
    if set(doc) != {"resource"} or set(doc["resource"]) != {"aws_security_group"}:
        problems.append("unexpected top-level blocks or resource types")
    for name, group in groups.items():
        where = f"aws_security_group.{name}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            problems.append(f"{where}: not a Terraform resource name")
        unknown = set(group) - GROUP
        if unknown:
            problems.append(f"{where}: unknown arguments {sorted(unknown)}")
        for kind in ("ingress", "egress"):
            for i, block in enumerate(group.get(kind, [])):
                check_block(block, f"{where}.{kind}[{i}]", problems)
    return problems


CHECKS = {
    "aws-cli": aws_cli,
    "aws-describe": aws_describe,
    "gcp": gcp,
    "terraform": terraform,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(CHECKS)} FILE")
    kind, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    problems = CHECKS[kind](doc)
    if problems:
        for p in problems:
            print(f"{path}: {p}")
        sys.exit(1)
    print(f"ok: {path} is a valid {kind} document")


if __name__ == "__main__":
    main()
