#!/usr/bin/python3
"""check_json.py FILE EXPR...: evaluates each Python expression with j bound
to the parsed JSON file; prints every one that is false, exits 1 if any."""
import json
import sys

with open(sys.argv[1]) as f:
    j = json.load(f)
bad = [e for e in sys.argv[2:] if not eval(e, {"j": j})]
for e in bad:
    print("check failed: %s" % e, file=sys.stderr)
if bad:
    print(json.dumps(j, indent=1), file=sys.stderr)
sys.exit(1 if bad else 0)
