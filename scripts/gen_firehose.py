#!/usr/bin/env python3
"""Generates Riffle's Firehose tables from botocore's model (firehose/2015-08-04):

* crates/riffle-protocol/src/firehose/schema.rs: the input schema of every
  operation in the protocol core's schema language (members in model order);
* crates/riffle-model/src/firehose/shapes.rs: serde types for every structure
  of the model (inputs, outputs, configurations and descriptions).

The generated files are committed; run this again after a botocore upgrade
(`python3 scripts/gen_firehose.py`) and `cargo fmt`. The botocore_model test
checks the schema against the installed model either way.
"""
import os
import re
import sys

import botocore.loaders

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model = botocore.loaders.Loader().load_service_model("firehose", "service-2")
shapes = model["shapes"]
I64_MAX = (1 << 63) - 1
NS = "com.amazonaws.firehose.v20150804"


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.lower()
    return {"type": "r#type", "match": "r#match", "ref": "r#ref"}.get(s, s)


def upper(name):
    return snake(name).replace("r#", "").upper()


# ---------------------------------------------------------------- patterns
def java_to_rust(p):
    """Java regex -> fancy-regex source with Java's ASCII-only classes
    (`\\d`, `\\w`, `\\s`, `\\S`) and `\\uXXXX` escapes; a Java `char` range up
    to U+FFFF also admits supplementary characters (surrogate pairs)."""
    outside = {"d": "[0-9]", "w": "[A-Za-z0-9_]", "s": "[ \\t\\n\\x0B\\f\\r]", "S": "[^ \\t\\n\\x0B\\f\\r]"}
    inside = {"d": "0-9", "w": "A-Za-z0-9_", "s": " \\t\\n\\x0B\\f\\r"}
    out, i, in_class = [], 0, False
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p):
            n = p[i + 1]
            if n == "u" and re.match(r"[0-9A-Fa-f]{4}", p[i + 2:i + 6]):
                hexv = p[i + 2:i + 6].upper()
                out.append("\\x{10FFFF}" if hexv == "FFFF" else "\\x{%s}" % hexv)
                i += 6
                continue
            table = inside if in_class else outside
            if n in table:
                out.append(table[n])
            else:
                out.append(c + n)
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


patterns = {}

# Deliberate deviations (documented in the README): AWS only accepts HTTPS
# endpoints; Riffle also delivers to plain-HTTP endpoints on a local network.
# The message still prints the model's pattern.
RELAXED = {"https://.*": "https?://.*", "https:.*": "https?:.*"}


def pattern_static(p):
    if p not in patterns:
        patterns[p] = "P%d" % len(patterns)
    return patterns[p]


# ---------------------------------------------------------------- schema
schema_statics = []  # (name, code) in dependency order
done = set()


def cons(shape):
    t = shape["type"]
    out = []
    if t in ("integer", "long", "double"):
        if "min" in shape:
            out.append("Con::Min(%d)" % int(shape["min"]))
        if "max" in shape:
            out.append("Con::Max(%d)" % int(shape["max"]))
        return out
    if "pattern" in shape:
        out.append("Con::Pattern(&%s)" % pattern_static(shape["pattern"]))
    if "enum" in shape:
        out.append("Con::Enum(&[%s])" % ", ".join('"%s"' % v for v in shape["enum"]))
    if shape.get("min", 0) > 0:
        out.append("Con::MinLen(%d)" % shape["min"])
    if "max" in shape:
        out.append("Con::MaxLen(%d)" % shape["max"])
    return out


def ty(shape_name):
    s = shapes[shape_name]
    t = s["type"]
    if t == "string":
        return "Ty::Str"
    if t in ("integer", "long"):
        return "Ty::Int"
    if t == "double":
        return "Ty::Double"
    if t == "boolean":
        return "Ty::Bool"
    if t == "blob":
        return "Ty::Blob"
    if t == "timestamp":
        return "Ty::Timestamp"
    if t == "list":
        return "Ty::List(&%s)" % elem_static(shape_name, s["member"]["shape"])
    if t == "map":
        return "Ty::Map(&%s)" % elem_static(shape_name, s["value"]["shape"], key=s["key"]["shape"])
    if t == "structure":
        return "Ty::Struct(%s)" % struct_static(shape_name)
    raise SystemExit("unknown type " + t)


def elem_static(list_name, elem, key=None):
    name = "E_" + upper(list_name)
    if name in done:
        return name
    done.add(name)
    es = shapes[elem]
    member_str = '"%s.%s"' % (NS, elem) if es["type"] == "structure" else "None"
    if member_str != "None":
        member_str = "Some(%s)" % member_str
    # A list's string-element bounds and enums are reported at the list
    # (Con::ChildLen / ChildEnum, added by member_code), not per element.
    elem_cons = [] if es["type"] == "string" and key is None else cons(es)
    code = "static %s: Member = Member { name: \"member\", ty: %s, required: false, cons: &[%s], member_str: %s };" % (
        name, ty(elem), ", ".join(elem_cons), member_str)
    schema_statics.append(code)
    return name


def member_code(struct_shape, mname, mshape):
    req = mname in struct_shape.get("required", [])
    s = shapes[mshape]
    c = cons(s)
    # Lists and maps: constraints of their elements reported at the list.
    if s["type"] == "list":
        e = shapes[s["member"]["shape"]]
        if e["type"] == "string":
            if "enum" in e:
                c.append("Con::ChildEnum(&[%s])" % ", ".join('"%s"' % v for v in e["enum"]))
            if "pattern" in e:
                c.append("Con::ChildPattern(&%s)" % pattern_static(e["pattern"]))
            if e.get("min", 0) > 0 or "max" in e:
                c.append("Con::ChildLen(%d, %d)" % (e.get("min", 0), e.get("max", I64_MAX)))
    if s["type"] == "map":
        k = shapes[s["key"]["shape"]]
        v = shapes[s["value"]["shape"]]
        if k.get("min", 0) > 0 or "max" in k:
            c.append("Con::KeyLen(%d, %d)" % (k.get("min", 0), k.get("max", I64_MAX)))
        if v["type"] == "string" and (v.get("min", 0) > 0 or "max" in v):
            c.append("Con::ValLen(%d, %d)" % (v.get("min", 0), v.get("max", I64_MAX)))
    return '%s("%s", %s, &[%s])' % ("req" if req else "m", mname, ty(mshape), ", ".join(c))


def struct_static(shape_name):
    name = "S_" + upper(shape_name)
    if name in done:
        return name
    done.add(name)
    s = shapes[shape_name]
    members = [member_code(s, mn, mv["shape"]) for mn, mv in s["members"].items()]
    schema_statics.append("static %s: &[Member] = &[%s];" % (name, ", ".join(members)))
    return name


ops = []
for op_name, op in model["operations"].items():
    inp = op["input"]["shape"]
    ops.append((op_name, struct_static(inp)))

schema = []
schema.append("// @generated by scripts/gen_firehose.py from botocore's firehose/2015-08-04 model. Do not edit.\n")
schema.append("//! Input schemas of `Firehose_20150804`, members in model order.\n")
schema.append("#![allow(clippy::all, missing_docs)]\n")
schema.append("use crate::schema::{m, req, Con, Member, Ty};\nuse super::pattern::JavaPattern;\n")
for p, name in patterns.items():
    schema.append("static %s: JavaPattern = JavaPattern::new(%s, %s);" % (name, "r#\"%s\"#" % p, "r#\"^(?:%s)$\"#" % java_to_rust(RELAXED.get(p, p))))
schema.append("/// Every pattern above, for the test that compiles them all.")
schema.append("#[cfg(test)]\npub(super) static ALL_PATTERNS: &[&JavaPattern] = &[%s];" % ", ".join("&" + n for n in patterns.values()))
schema.extend(schema_statics)
for op_name, st in ops:
    schema.append("pub static %s: &[Member] = %s;" % (upper(op_name), st))
with open(os.path.join(ROOT, "crates/riffle-protocol/src/firehose/schema.rs"), "w") as f:
    f.write("\n".join(schema) + "\n")

# ---------------------------------------------------------------- serde shapes
def rust_type(shape_name):
    s = shapes[shape_name]
    t = s["type"]
    return {
        "string": "String",
        "integer": "i64",
        "long": "i64",
        "double": "f64",
        "boolean": "bool",
        "blob": "crate::firehose::Blob",
        "timestamp": "crate::firehose::EpochSeconds",
    }.get(t) or {
        "list": lambda: "Vec<%s>" % rust_type(s["member"]["shape"]),
        "map": lambda: "std::collections::BTreeMap<String, %s>" % rust_type(s["value"]["shape"]),
        "structure": lambda: shape_name,
    }[t]()


out = []
out.append("// @generated by scripts/gen_firehose.py from botocore's firehose/2015-08-04 model. Do not edit.\n")
out.append("//! Every structure of `Firehose_20150804` as a serde type with the wire's member names.")
out.append("//! Required members are plain fields, optional ones `Option`s left out when `None`.\n")
out.append("#![allow(clippy::all, missing_docs)]\nuse serde::{Deserialize, Serialize};\n")
for name, s in shapes.items():
    if s["type"] != "structure" or s.get("exception"):
        continue
    out.append("#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]")
    out.append("pub struct %s {" % name)
    for mn, mv in s["members"].items():
        rt = rust_type(mv["shape"])
        field = snake(mn)
        if mn in s.get("required", []):
            out.append('    #[serde(rename = "%s")]' % mn)
            out.append("    pub %s: %s," % (field, rt))
        else:
            out.append('    #[serde(rename = "%s", default, skip_serializing_if = "Option::is_none")]' % mn)
            out.append("    pub %s: Option<%s>," % (field, rt))
    out.append("}\n")
os.makedirs(os.path.join(ROOT, "crates/riffle-model/src/firehose"), exist_ok=True)
with open(os.path.join(ROOT, "crates/riffle-model/src/firehose/shapes.rs"), "w") as f:
    f.write("\n".join(out) + "\n")
print("generated %d operations, %d patterns" % (len(ops), len(patterns)), file=sys.stderr)
