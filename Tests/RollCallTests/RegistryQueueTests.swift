import RollCall
import Testing

@Suite("Registry queue")
struct RegistryQueueTests {
    struct Request: QueuedRequest, Equatable {
        let name: String
        let retriedAfterFailure: Bool
        static func close(_ name: String) -> Request { Request(name: name, retriedAfterFailure: true) }
        static func open(_ name: String) -> Request { Request(name: name, retriedAfterFailure: false) }
    }

    let start = ContinuousClock.now

    func names(_ next: RegistryQueue<Request>.Next) -> [String]? {
        if case .batch(let batch) = next { batch.map(\.name) } else { nil }
    }

    @Test("batches take up to maxBatch requests in submission order; idle once written")
    func batching() {
        var queue = RegistryQueue<Request>(maxBatch: 2, shutdownPatience: .seconds(15))
        #expect(queue.isIdle)
        for name in ["a", "b", "c"] {
            let queued = queue.submit(.open(name))
            #expect(queued)
        }
        #expect(!queue.isIdle)
        #expect(names(queue.next()) == ["a", "b"])
        queue.batchCommitted()
        queue.batchEnded()
        #expect(names(queue.next()) == ["c"])
        #expect(!queue.isIdle, "a batch in flight is not written yet")
        queue.batchCommitted()
        queue.batchEnded()
        #expect(queue.isIdle)
        #expect(queue.committedTransactions == 2)
        guard case .wait = queue.next() else { Issue.record("an empty queue waits"); return }
    }

    @Test("a failed batch answers opens at once and puts closes back first, with a growing pause")
    func failure() {
        var queue = RegistryQueue<Request>(maxBatch: 10, shutdownPatience: .seconds(15))
        for request in [Request.open("o1"), .close("c1"), .open("o2"), .close("c2")] { _ = queue.submit(request) }
        let batch = names(queue.next())!
        #expect(batch == ["o1", "c1", "o2", "c2"])
        _ = queue.submit(.close("c3"))
        let first = queue.batchFailed([.open("o1"), .close("c1"), .open("o2"), .close("c2")], now: start)
        #expect(first.failFast.map(\.name) == ["o1", "o2"])
        #expect(first.retryAfter == .milliseconds(100))
        #expect(first.abandoned.isEmpty)
        queue.batchEnded()
        #expect(names(queue.next()) == ["c1", "c2", "c3"], "kept closes go before what came meanwhile")
        let second = queue.batchFailed([.close("c1"), .close("c2"), .close("c3")], now: start)
        #expect(second.retryAfter == .milliseconds(200))
        queue.batchEnded()
        _ = queue.next()
        queue.batchCommitted()
        #expect(queue.consecutiveFailures == 0)
    }

    @Test("a batch of opens only leaves nothing to retry and no pause")
    func opensOnly() {
        var queue = RegistryQueue<Request>(maxBatch: 10, shutdownPatience: .seconds(15))
        _ = queue.submit(.open("o"))
        _ = queue.next()
        let failure = queue.batchFailed([.open("o")], now: start)
        #expect(failure.failFast.map(\.name) == ["o"] && failure.retryAfter == nil)
        queue.batchEnded()
        #expect(queue.isIdle)
    }

    @Test("stopping: retried within the patience, then everything queued is given up, graces too")
    func patience() {
        var queue = RegistryQueue<Request>(maxBatch: 1, shutdownPatience: .seconds(15))
        _ = queue.submit(.close("c1"))
        _ = queue.submit(.close("c2"))
        queue.graceStarted(for: ["ann"], endsAt: start + .seconds(60))
        queue.stopRequested(now: start)
        _ = queue.next()
        let early = queue.batchFailed([.close("c1")], now: start + .seconds(10))
        #expect(early.retryAfter != nil && early.abandoned.isEmpty)
        queue.batchEnded()
        _ = queue.next()
        let late = queue.batchFailed([.close("c1")], now: start + .seconds(16))
        #expect(late.retryAfter == nil)
        #expect(late.abandoned.map(\.name) == ["c1", "c2"])
        #expect(late.abandonedGraces == 1)
        queue.batchEnded()
        guard case .stop = queue.next() else { Issue.record("nothing left: the loop stops"); return }
    }

    @Test("shutdown beginning before the stop starts the patience then, not later")
    func shutdownClock() {
        var queue = RegistryQueue<Request>(maxBatch: 1, shutdownPatience: .seconds(15))
        queue.shutdownBegins(now: start)
        queue.stopRequested(now: start + .seconds(10))
        #expect(queue.stoppingSince == start)
    }

    @Test("a stop waits out running graces, and then ends")
    func stopWaitsForGraces() {
        var queue = RegistryQueue<Request>(maxBatch: 10, shutdownPatience: .seconds(15))
        queue.graceStarted(for: ["bob", "ann"], endsAt: start + .seconds(3))
        queue.stopRequested(now: start)
        #expect(!queue.hasWork)
        guard case .wait = queue.next() else { Issue.record("graces still run"); return }
        #expect(queue.gracesDue(at: start + .seconds(2)).isEmpty)
        #expect(queue.gracesDue(at: start + .seconds(3)) == ["ann", "bob"])
        #expect(queue.gracesDue(at: start + .seconds(4)).isEmpty, "each grace is due once")
        #expect(queue.hasWork)
        guard case .stop = queue.next() else { Issue.record("no grace left: the loop stops"); return }
    }

    @Test("a grace started again moves its end; once finished, submissions are refused and leftovers returned")
    func regraceAndFinish() {
        var queue = RegistryQueue<Request>(maxBatch: 10, shutdownPatience: .seconds(15))
        queue.graceStarted(for: ["ann"], endsAt: start + .seconds(1))
        queue.graceStarted(for: ["ann"], endsAt: start + .seconds(5))
        #expect(queue.gracesDue(at: start + .seconds(2)).isEmpty)
        _ = queue.submit(.close("c"))
        #expect(queue.finish().map(\.name) == ["c"])
        let refused = !queue.submit(.close("d"))
        #expect(refused)
        #expect(queue.isIdle)
    }
}
