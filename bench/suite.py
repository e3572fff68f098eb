"""Where the test suite's minutes go: per-module and per-test times of one `pytest` run, read
from its JUnit XML (each test's time is setup + call + teardown, so a module's expensive
fixture shows on its first test), written to bench/results/suite.json under a label.

    python bench/suite.py --label after            # runs the suite itself (pytest -q)
    python bench/suite.py --label before --xml run.xml --commit f157b1b   # an earlier run's XML

Two labels in the file give the before / after table per module (`--table`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _common import RESULTS, write_result  # noqa: E402

RESULT = os.path.join(RESULTS, "suite.json")


def parse(xml_path: str) -> dict:
    """Per-test and per-module seconds and outcomes of a JUnit XML file."""
    root = ET.parse(xml_path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    tests = []
    for case in suite.iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        module = case.get("classname", "").replace(".", "/") + ".py"
        tests.append({"module": module, "test": case.get("name"), "seconds": round(float(case.get("time", 0)), 2),
                      "outcome": outcome})
    modules: dict[str, dict] = {}
    for t in tests:
        m = modules.setdefault(t["module"], {"tests": 0, "seconds": 0.0})
        m["tests"] += 1
        m["seconds"] = round(m["seconds"] + t["seconds"], 2)
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failure", "error", "skipped")}
    return {"pytest_seconds": round(float(suite.get("time", 0)), 1), "tests": len(tests), "outcomes": counts,
            "modules": dict(sorted(modules.items(), key=lambda kv: -kv[1]["seconds"])),
            "slowest": sorted(tests, key=lambda t: -t["seconds"])[:25]}


def run_suite(extra: list[str]) -> str:
    xml = os.path.join(tempfile.mkdtemp(prefix="w2s-suite-"), "suite.xml")
    cmd = [sys.executable, "-m", "pytest", "-q", f"--junitxml={xml}", "--durations=25", *extra]
    subprocess.run(cmd, cwd=ROOT, check=False)
    return xml


def table(result: dict, a: str, b: str) -> str:
    """Markdown: minutes per module under labels a and b, slowest first by b."""
    ma, mb = result[a]["modules"], result[b]["modules"]
    rows = ["| module | tests | " + f"{a} (s) | {b} (s) |", "|---|---:|---:|---:|"]
    for mod in sorted(set(ma) | set(mb), key=lambda m: -max(mb.get(m, {}).get("seconds", 0),
                                                              ma.get(m, {}).get("seconds", 0))):
        ta, tb = ma.get(mod, {}), mb.get(mod, {})
        rows.append(f"| `{mod}` | {tb.get('tests', ta.get('tests'))} | {ta.get('seconds', '-')} | "
                    f"{tb.get('seconds', '-')} |")
    rows.append(f"| **total (pytest time)** | {result[b]['tests']} | {result[a]['pytest_seconds']} | "
                f"{result[b]['pytest_seconds']} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", help="name of this run in suite.json (e.g. before, after)")
    ap.add_argument("--xml", help="read this JUnit XML instead of running the suite")
    ap.add_argument("--commit", help="the commit the run was of (default: HEAD)")
    ap.add_argument("--note", default="", help="how the run was made (fresh clone, other load)")
    ap.add_argument("--table", nargs=2, metavar=("A", "B"), help="print the per-module table of two labels")
    args, extra = ap.parse_known_args()
    result = json.load(open(RESULT))["runs"] if os.path.exists(RESULT) else {}
    if args.table:
        print(table(result, *args.table))
        return
    if not args.label:
        ap.error("--label is required (or --table A B)")
    commit = args.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                           text=True).stdout.strip()
    xml = args.xml or run_suite(extra)
    result[args.label] = {"commit": commit, "date": time.strftime("%Y-%m-%d"), "note": args.note, **parse(xml)}
    write_result("suite", {"runs": result})
    r = result[args.label]
    print(f"{args.label}: {r['tests']} tests, {r['pytest_seconds'] / 60:.1f} min of pytest time -> {RESULT}")


if __name__ == "__main__":
    main()
