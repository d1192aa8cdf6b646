"""A strict parser for the Prometheus text exposition format (version 0.0.4), for tests.

Stricter than Prometheus' own scraper on purpose: every family needs # HELP and # TYPE before
its samples, a family's samples are contiguous, no series repeats, counters are >= 0,
histogram buckets are cumulative with a +Inf bucket equal to _count, and label values use
only the three escapes the format defines. Raises ValueError naming the line on anything
else.

    fams = parse(text)
    value(fams, "vigil_output_frames_total", camera="c1", tier="low", output="ws")
"""
import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _parse_value(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)", s):
        raise ValueError("%s: bad value %r" % (where, s))
    return float(s)


def _parse_labels(s, i, where):
    """Parses {a="x",b="y"} starting at s[i] == '{'. Returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
        if not m:
            raise ValueError("%s: bad label name at column %d" % (where, i))
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError("%s: expected =\" after label %s" % (where, name))
        i += 2
        out = []
        while True:
            if i >= len(s):
                raise ValueError("%s: unterminated label value" % where)
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ValueError("%s: bad escape \\%s" % (where, nxt))
                out.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("%s: newline in label value" % where)
            else:
                out.append(c)
                i += 1
        if name in labels:
            raise ValueError("%s: label %s repeated" % (where, name))
        labels[name] = "".join(out)
        if i < len(s) and s[i] == ",":
            i += 1
        elif i < len(s) and s[i] == "}":
            continue
        else:
            raise ValueError("%s: expected , or } after a label" % where)


def _family_of(sample_name, fams):
    if sample_name in fams:
        return sample_name
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix) and sample_name[:-len(suffix)] in fams:
            base = sample_name[:-len(suffix)]
            if fams[base]["type"] in ("histogram", "summary"):
                return base
    return None


def parse(text):
    if not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    fams = {}
    order = []
    seen_series = set()
    current = None
    for no, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d" % no
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.match(name):
                    raise ValueError("%s: bad metric name %r" % (where, name))
                fam = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                if fam["samples"]:
                    raise ValueError("%s: %s after samples of %s" % (where, parts[1], name))
                key = "help" if parts[1] == "HELP" else "type"
                if fam[key] is not None:
                    raise ValueError("%s: second %s for %s" % (where, parts[1], name))
                rest = parts[3] if len(parts) > 3 else ""
                if key == "type" and rest not in TYPES:
                    raise ValueError("%s: unknown type %r" % (where, rest))
                fam[key] = rest
                if name not in order:
                    order.append(name)
                current = name
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            raise ValueError("%s: bad sample %r" % (where, line))
        sname = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, where)
        if line[i:i + 1] != " ":
            raise ValueError("%s: expected a space before the value" % where)
        fields = line[i + 1:].split(" ")
        if len(fields) not in (1, 2):
            raise ValueError("%s: expected a value and an optional timestamp" % where)
        value = _parse_value(fields[0], where)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise ValueError("%s: bad timestamp" % where)
        base = _family_of(sname, fams)
        if base is None:
            raise ValueError("%s: sample %s has no # TYPE before it" % (where, sname))
        fam = fams[base]
        if fam["type"] is None or fam["help"] is None:
            raise ValueError("%s: %s lacks # HELP or # TYPE" % (where, base))
        if base != current:
            raise ValueError("%s: samples of %s are not contiguous" % (where, base))
        if fam["type"] == "histogram" and sname == base:
            raise ValueError("%s: histogram %s sample without _bucket/_sum/_count" % (where, base))
        if sname.endswith("_bucket") and fam["type"] == "histogram" and "le" not in labels:
            raise ValueError("%s: bucket without le" % where)
        series = (sname, tuple(sorted(labels.items())))
        if series in seen_series:
            raise ValueError("%s: series repeated: %r" % (where, series))
        seen_series.add(series)
        if fam["type"] == "counter" and not value >= 0:
            raise ValueError("%s: counter %s is %r" % (where, sname, value))
        fam["samples"].append((sname, labels, value))
    for name, fam in fams.items():
        if fam["type"] == "histogram":
            _check_histogram(name, fam)
    return fams


def _check_histogram(name, fam):
    groups = {}
    for sname, labels, value in fam["samples"]:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sname.endswith("_bucket"):
            g["buckets"].append((_parse_value(labels["le"], name), value))
        elif sname.endswith("_sum"):
            g["sum"] = value
        elif sname.endswith("_count"):
            g["count"] = value
    for key, g in groups.items():
        if g["sum"] is None or g["count"] is None or not g["buckets"]:
            raise ValueError("histogram %s%r lacks buckets, _sum or _count" % (name, key))
        bounds = [b for b, _ in g["buckets"]]
        if bounds != sorted(bounds) or bounds[-1] != math.inf:
            raise ValueError("histogram %s%r: buckets unordered or no +Inf" % (name, key))
        counts = [c for _, c in g["buckets"]]
        if any(b > a for a, b in zip(counts[1:], counts)):
            raise ValueError("histogram %s%r: buckets not cumulative" % (name, key))
        if counts[-1] != g["count"]:
            raise ValueError("histogram %s%r: +Inf bucket %r != count %r" % (name, key,
                                                                         counts[-1], g["count"]))


def value(fams, sample_name, **labels):
    """The value of the one sample named sample_name whose labels include `labels`."""
    base = _family_of(sample_name, fams)
    if base is None:
        raise KeyError(sample_name)
    found = [v for n, l, v in fams[base]["samples"]
             if n == sample_name and all(l.get(k) == str(x) for k, x in labels.items())]
    if len(found) != 1:
        raise KeyError("%s%r: %d samples" % (sample_name, labels, len(found)))
    return found[0]
