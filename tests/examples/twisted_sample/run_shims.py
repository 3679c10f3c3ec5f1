"""Run the converted ledger scenario with shims.run on the backend named by argv[1]."""

import json
import sys

from ledger.service import scenario

import shims

print(json.dumps(shims.run(scenario, backend=sys.argv[1])))
