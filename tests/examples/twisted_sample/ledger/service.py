"""An account ledger in @inlineCallbacks style: a lock, delays, gathered transfers, timers."""

from twisted.internet import defer, reactor, task


class Ledger:
    def __init__(self):
        self.balances = {}
        self.lock = defer.DeferredLock()
        self.journal = []
        self.audits = []

    @defer.inlineCallbacks
    def _store(self, account, amount):
        # the write takes a moment, as a database round trip would
        yield task.deferLater(reactor, 0.002)
        self.balances[account] = self.balances.get(account, 0) + amount

    @defer.inlineCallbacks
    def deposit(self, account, amount):
        yield self.lock.acquire()
        try:
            yield self._store(account, amount)
        finally:
            self.lock.release()
        defer.returnValue(self.balances[account])

    @defer.inlineCallbacks
    def transfer(self, src, dst, amount):
        yield self.lock.acquire()
        try:
            if self.balances.get(src, 0) < amount:
                self.journal.append(("refused", src, dst, amount))
                defer.returnValue(False)
            yield self._store(src, -amount)
            yield self._store(dst, amount)
            self.journal.append(("moved", src, dst, amount))
        finally:
            self.lock.release()
        reactor.callLater(0.001, self.audits.append, (src, dst, amount))
        defer.returnValue(True)

    @defer.inlineCallbacks
    def settle(self, transfers):
        results = yield defer.gatherResults([self.transfer(s, d, a) for s, d, a in transfers])
        defer.returnValue(results)


@defer.inlineCallbacks
def scenario():
    ledger = Ledger()
    opened = yield defer.gatherResults([ledger.deposit("alice", 100), ledger.deposit("bob", 20)])
    moved = yield ledger.settle(
        [("alice", "bob", 30), ("bob", "carol", 60), ("bob", "carol", 40), ("alice", "dave", 80)]
    )
    yield task.deferLater(reactor, 0.05)
    defer.returnValue(
        {
            "opened": opened,
            "moved": moved,
            "balances": sorted(ledger.balances.items()),
            "journal": ledger.journal,
            "audits": sorted(ledger.audits),
        }
    )
