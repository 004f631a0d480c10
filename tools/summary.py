#!/usr/bin/python3
"""Adds up meson's and pytest's results, in each build dir given (default:
build), into one closing line: every meson test log there (testlog.json, and
testlog-SETUP.json of a test setup such as valgrind) and pytest.xml."""
import glob
import json
import os
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
print(f"{passed} passed, {failed} failed, {skipped} skipped")
