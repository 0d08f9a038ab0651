#!/usr/bin/env python3
"""Measure `kiln lint` against Jenkins' declarative validator tests.

Usage: jenkins_validator.py TEST_TREE KILN [--exclusions docs/conformance.md] [--only NAME...]

TEST_TREE is an extracted `pipeline-model-definition/src/test` directory of
jenkinsci/pipeline-model-definition-plugin; KILN is the `kiln` binary. Nothing of
Jenkins is kept in kiln: the expectations are derived from the Java test sources at
run time.

- A *valid* file is one a test runs and expects to build: `expect("name")`,
  `expect(Result.X, "name")`, `expect("parent", "name")` outside `errors/`, whose
  chained expectations name no validator message, plus the entries of the
  `SHOULD_PASS_CONFIGS` style lists of names.
- An *error* file is one loaded with `expectError("name")`, or listed with a message in
  `configsWithErrors` (both under `errors/`).

"Jenkins' line" is approximated, since the tests name messages rather than lines: the
tokens of the expected messages (their string arguments, the lower-cased words of the
message key such as `NoStages` -> `stages`, quoted words of literal expectations) are
looked up in the file; a rejection counts as at Jenkins' line when one of kiln's errors
stands on a line holding one of those tokens as a word. Files where no token occurs in
the pipeline are left out of that figure and counted separately.

Files kiln decided Jenkins is wrong or test-environment-specific about are listed, with
the reason, in docs/conformance.md under "## Excluded files" (`- `name`: reason`); with
`--exclusions` they are reported apart and left out of the figures.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

CHAIN_END = re.compile(r"\.go\(\)")
EXPECT_CALL = re.compile(r"\b(expectError|expect)\s*\(")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
MESSAGE_CALL = re.compile(r"Messages\.(\w+)\s*\(")
LIST_DECL = re.compile(r"List<String>\s+\w*CONFIGS\w*\s*=\s*ImmutableList\.of\((.*?)\);", re.S)
ERROR_ROW = re.compile(r'new Object\[\]\s*\{\s*"([^"]+)"\s*,(.*?)\}\);', re.S)
CAMEL = re.compile(r"[A-Z][a-z]+")
# Words of message keys that name no construct of a pipeline.
KEY_NOISE = {
    "no", "empty", "invalid", "missing", "required", "unknown", "multiple", "duplicate",
    "too", "few", "many", "not", "within", "nested", "of", "in", "for", "and", "or", "is",
    "impl", "model", "validator", "parser", "expected", "but", "got", "literal", "type",
    "parameter", "parameters", "items", "properties", "section", "with", "only", "allowed",
    "blocked", "identifier", "env", "two", "to", "be", "at", "top", "block", "non",
}


@dataclass
class Expectation:
    name: str
    error: bool
    tokens: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)


def balanced_args(text: str, start: int) -> tuple[str, int]:
    """The text between the parenthesis opened just before `start` and its match."""
    depth, i, in_str = 1, start, False
    while i < len(text) and depth:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1
    return text[start : i - 1], i


def message_tokens(chain: str) -> tuple[set[str], bool]:
    """Tokens naming the construct an expected message is about; whether a validator
    message is expected at all."""
    tokens: set[str] = set()
    validator = False
    for m in MESSAGE_CALL.finditer(chain):
        key = m.group(1)
        # A property's own validator (`PreserveStashesJobProperty_ValidatorImpl_...`)
        # refuses the file as the model's validator does.
        if key.startswith(("ModelValidatorImpl_", "ModelParser_", "JSONParser_")) or (
            "_ValidatorImpl_" in key
        ):
            validator = True
        args, _ = balanced_args(chain, m.end())
        for s in STRING.findall(args):
            for word in re.findall(r"[A-Za-z_$][\w$-]*", s):
                tokens.add(word)
        for word in CAMEL.findall(key.split("_", 1)[-1]):
            if word.lower() not in KEY_NOISE:
                tokens.add(word.lower())
    return tokens, validator


def resource_name(args: str) -> tuple[str | None, str | None]:
    """(parent, name) of `expect("name")`, `expect(Result.X, "parent", "name")`..."""
    strings = STRING.findall(args)
    if not strings:
        return None, None
    if len(strings) >= 2:
        return strings[0], strings[1]
    return None, strings[0]


def scan_java(path: Path, found: dict[str, Expectation]) -> None:
    text = strip_java_comments(path.read_text(encoding="utf-8", errors="replace"))
    # A test class may route `expect("name")` to a folder of its own.
    own = re.search(r'return super\.expect\("([^"]+)", resource\)', text)
    default_parent = own.group(1) if own else None
    ignored = ignored_ranges(text)
    for m in EXPECT_CALL.finditer(text):
        if any(a <= m.start() < b for a, b in ignored):
            continue
        args, after = balanced_args(text, m.end())
        end = CHAIN_END.search(text, after)
        chain = text[after : end.start()] if end and end.start() - after < 4000 else ""
        parent, name = resource_name(args)
        if name is None:
            continue
        parent = parent or (default_parent if m.group(1) == "expect" else None)
        is_error = m.group(1) == "expectError" or parent == "errors"
        tokens, validator = message_tokens(chain)
        if not is_error and validator and "Result.FAILURE" in args:
            is_error = True
        if m.group(1) == "expectError":
            parent = "errors"
        add(found, f"{parent}/{name}" if parent else name, is_error, tokens, path.name)
    for decl in LIST_DECL.finditer(text):
        for name in STRING.findall(decl.group(1)):
            add(found, name, False, set(), path.name)
    for row in ERROR_ROW.finditer(text):
        tokens, _ = message_tokens(row.group(2))
        for s in STRING.findall(row.group(2)):
            tokens.update(re.findall(r'"(\w+)"', s))
        add(found, f"errors/{row.group(1)}", True, tokens, path.name)


def ignored_ranges(text: str) -> list[tuple[int, int]]:
    """Byte ranges of test methods annotated `@Ignore`: Jenkins does not run them."""
    starts = [m.start() for m in re.finditer(r"(?:public|protected|private)\s+\w[\w<>]*\s+\w+\s*\(", text)]
    out = []
    for i, start in enumerate(starts):
        before = text[: start]
        region = before[before.rfind("}") + 1 :] if "}" in before else before
        if "@Ignore" in region:
            out.append((start, starts[i + 1] if i + 1 < len(starts) else len(text)))
    return out


def add(found: dict[str, Expectation], name: str, error: bool, tokens: set[str], src: str) -> None:
    e = found.setdefault(name, Expectation(name=name, error=error))
    e.error |= error
    e.tokens |= tokens
    e.sources.add(src)


def strip_java_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


def code_lines(text: str) -> dict[int, str]:
    """Line number -> text, blanking the license comment and other comments roughly."""
    out, in_block = {}, False
    for n, line in enumerate(text.splitlines(), 1):
        s = line
        if in_block:
            if "*/" in s:
                s, in_block = s.split("*/", 1)[1], False
            else:
                s = ""
        if "/*" in s and "*/" not in s.split("/*", 1)[1]:
            s, in_block = s.split("/*", 1)[0], True
        out[n] = s.split("//", 1)[0] if "://" not in s else s
    return out


def read_exclusions(path: str) -> set[str]:
    """The `- `name`: reason` entries under "## Excluded files"."""
    out, inside = set(), False
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Excluded files"
        elif inside and (m := re.match(r"- `([^`]+)`:", line)):
            out.add(m.group(1))
    return out


def lint(kiln: str, path: Path) -> tuple[bool, list[dict], str]:
    proc = subprocess.run(
        [kiln, "lint", "--format", "json", "--color", "never", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    try:
        report = json.loads(proc.stdout)[0]
    except (json.JSONDecodeError, IndexError):
        return False, [], f"no JSON (exit {proc.returncode}): {proc.stderr.strip()[:300]}"
    return bool(report["valid"]), report["diagnostics"], ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree")
    ap.add_argument("kiln")
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--exclusions", help="docs/conformance.md: its excluded files")
    ap.add_argument("--json", action="store_true", help="print every result as JSON")
    a = ap.parse_args()
    tree = Path(a.tree)
    resources = tree / "resources"
    found: dict[str, Expectation] = {}
    for java in sorted((tree / "java").rglob("*Test.java")):
        scan_java(java, found)

    excluded = read_exclusions(a.exclusions) if a.exclusions else set()
    valid_ok = valid_n = err_ok = err_n = line_ok = line_n = 0
    missing, mismatches, results = [], [], []
    for key, e in sorted(found.items()):
        if (a.only and e.name not in a.only) or e.name in excluded:
            continue
        path = resources / f"{e.name}.groovy"
        if not path.is_file():
            missing.append(key)
            continue
        accepted, diags, problem = lint(a.kiln, path)
        errors = [d for d in diags if d.get("severity") == "error"]
        row = {"file": key, "accepted": accepted, "errors": [
            f"{d['line']}: {d['message']}" for d in errors]}
        if problem:
            row["problem"] = problem
        if not e.error:
            valid_n += 1
            valid_ok += accepted and not problem
            if not accepted or problem:
                mismatches.append(f"valid file rejected: {key}: {problem or row['errors']}")
        else:
            err_n += 1
            rejected = bool(errors)
            err_ok += rejected
            lines = code_lines(path.read_text(encoding="utf-8", errors="replace"))
            want = {n for n, s in lines.items() for t in e.tokens
                    if re.search(rf"(?<![\w$]){re.escape(t)}(?![\w$])", s)}
            row["jenkins_lines"] = sorted(want)
            if not rejected:
                mismatches.append(f"error file accepted: {key} (expected about {sorted(e.tokens)})")
            elif want:
                line_n += 1
                if any(d["line"] in want for d in errors):
                    line_ok += 1
                else:
                    mismatches.append(
                        f"error file rejected elsewhere: {key}: kiln {row['errors']}, "
                        f"Jenkins' lines {sorted(want)} ({sorted(e.tokens)})")
        results.append(row)

    if a.json:
        print(json.dumps(results, indent=2))
    pct = lambda n, d: f"{100.0 * n / d:.1f}%" if d else "n/a"
    print(f"valid files accepted:      {valid_ok}/{valid_n} = {pct(valid_ok, valid_n)}")
    print(f"error files rejected:      {err_ok}/{err_n} = {pct(err_ok, err_n)}")
    print(f"rejected at Jenkins' line: {line_ok}/{line_n} = {pct(line_ok, line_n)}"
          f" ({err_ok - line_n if err_ok >= line_n else 0} rejections without a located line)")
    if excluded:
        print(f"excluded ({len(excluded)}, see docs/conformance.md): {', '.join(sorted(excluded))}")
    if missing:
        print(f"named by a test but not found ({len(missing)}): {', '.join(missing)}")
    print(f"mismatches ({len(mismatches)}):")
    for m in mismatches:
        print(f"  {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
