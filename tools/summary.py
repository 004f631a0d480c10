#!/usr/bin/python3
"""Adds up meson's and pytest's results, in each build dir given (default:
build), into one closing line: every meson test log there (testlog.json, and
testlog-SETUP.json of a test setup such as valgrind), pytest.xml, and the
closing "N passed, N failed" line of another runner kept in *-summary.txt."""
import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for build in sys.argv[1:] or ["build"]:
    for log in sorted(glob.glob(os.path.join(build, "meson-logs", "testlog*.json"))):
        with open(log) as f:
            for line in f:
                r = json.loads(line).get("result")
                if r in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif r == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    xml = os.path.join(build, "pytest.xml")
    if os.path.exists(xml):
        for suite in ET.parse(xml).getroot().iter("testsuite"):
            n = int(suite.get("tests", 0))
            f = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            s = int(suite.get("skipped", 0))
            passed += n - f - s
            failed += f
            skipped += s
    for path in sorted(glob.glob(os.path.join(build, "*-summary.txt"))):
        with open(path) as f:
            lines = re.findall(r"^(\d+) passed, (\d+) failed", f.read(), re.M)
        if lines:
            passed += int(lines[-1][0])
            failed += int(lines[-1][1])
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
