"""Run the unconverted ledger scenario on Twisted's reactor and print its result as JSON."""

import json
import sys

from ledger.service import scenario
from twisted.internet import task


def main(reactor):
    return scenario().addCallback(lambda result: sys.stdout.write(json.dumps(result) + "\n"))


task.react(main)
