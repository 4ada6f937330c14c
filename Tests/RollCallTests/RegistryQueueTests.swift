import RollCall
import Testing

@Suite("Registry queue", .timeLimit(.minutes(5)))
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
            let queued = queue.submit(.open(name), at: start)
            #expect(queued)
        }
        #expect(!queue.isIdle)
        #expect(names(queue.next(at: start)) == ["a", "b"])
        queue.batchCommitted()
        queue.batchEnded()
        #expect(names(queue.next(at: start)) == ["c"])
        #expect(!queue.isIdle, "a batch in flight is not written yet")
        queue.batchCommitted()
        queue.batchEnded()
        #expect(queue.isIdle)
        #expect(queue.committedTransactions == 2)
        guard case .wait = queue.next(at: start) else { Issue.record("an empty queue waits"); return }
    }

    @Test("backlogged once four batches' worth wait, not while a batch is in flight with less behind it")
    func backlogged() {
        var queue = RegistryQueue<Request>(maxBatch: 2, shutdownPatience: .seconds(15))
        for index in 0..<9 { _ = queue.submit(.open("m\(index)"), at: start) }
        #expect(queue.isBacklogged, "9 waiting, 8 is four batches of 2")
        #expect(names(queue.next(at: start)) == ["m0", "m1"])
        #expect(!queue.isBacklogged, "7 waiting behind the batch in flight")
        _ = queue.submit(.open("m9"), at: start)
        #expect(queue.isBacklogged)
    }

    @Test("a backlog drains in submission order through many batches, with arrivals and a failed batch between them")
    func backlog() {
        var queue = RegistryQueue<Request>(maxBatch: 3, shutdownPatience: .seconds(15))
        for index in 0..<10 { _ = queue.submit(.close("r\(index)"), at: start) }
        var written: [String] = []
        var step = 0
        while case .batch(let batch) = queue.next(at: start) {
            step += 1
            if step == 2 {
                // The second batch fails: its closes go back first, behind nothing.
                _ = queue.batchFailed(batch, now: start)
                queue.batchEnded()
                continue
            }
            written += batch.map(\.name)
            if step == 3 { _ = queue.submit(.close("late"), at: start) }
            queue.batchCommitted()
            queue.batchEnded()
        }
        #expect(written == (0..<10).map { "r\($0)" } + ["late"])
        #expect(queue.pendingCount == 0 && queue.isIdle)
    }

    @Test("a failed batch answers opens at once and puts closes back first, with a growing pause")
    func failure() {
        var queue = RegistryQueue<Request>(maxBatch: 10, shutdownPatience: .seconds(15))
        for request in [Request.open("o1"), .close("c1"), .open("o2"), .close("c2")] { _ = queue.submit(request, at: start) }
        let batch = names(queue.next(at: start))!
        #expect(batch == ["o1", "c1", "o2", "c2"])
        _ = queue.submit(.close("c3"), at: start)
        let first = queue.batchFailed([.open("o1"), .close("c1"), .open("o2"), .close("c2")], now: start)
        #expect(first.failFast.map(\.name) == ["o1", "o2"])
        #expect(first.retryAfter == .milliseconds(100))
        #expect(first.abandoned.isEmpty)
        queue.batchEnded()
        #expect(names(queue.next(at: start)) == ["c1", "c2", "c3"], "kept closes go before what came meanwhile")
        let second = queue.batchFailed([.close("c1"), .close("c2"), .close("c3")], now: start)
        #expect(second.retryAfter == .milliseconds(200))
        queue.batchEnded()
        _ = queue.next(at: start)
        queue.batchCommitted()
        #expect(queue.consecutiveFailures == 0)
    }

    @Test("a batch of opens only leaves nothing to retry and no pause")
    func opensOnly() {
        var queue = RegistryQueue<Request>(maxBatch: 10, shutdownPatience: .seconds(15))
        _ = queue.submit(.open("o"), at: start)
        _ = queue.next(at: start)
        let failure = queue.batchFailed([.open("o")], now: start)
        #expect(failure.failFast.map(\.name) == ["o"] && failure.retryAfter == nil)
        queue.batchEnded()
        #expect(queue.isIdle)
    }

    @Test("stopping: retried within the patience, then everything queued is given up, graces too")
    func patience() {
        var queue = RegistryQueue<Request>(maxBatch: 1, shutdownPatience: .seconds(15))
        _ = queue.submit(.close("c1"), at: start)
        _ = queue.submit(.close("c2"), at: start)
        queue.graceStarted(for: ["ann"], endsAt: start + .seconds(60))
        queue.stopRequested(now: start)
        _ = queue.next(at: start)
        let early = queue.batchFailed([.close("c1")], now: start + .seconds(10))
        #expect(early.retryAfter != nil && early.abandoned.isEmpty)
        queue.batchEnded()
        _ = queue.next(at: start)
        let late = queue.batchFailed([.close("c1")], now: start + .seconds(16))
        #expect(late.retryAfter == nil)
        #expect(late.abandoned.map(\.name) == ["c1", "c2"])
        #expect(late.abandonedGraces == 1)
        queue.batchEnded()
        guard case .stop = queue.next(at: start) else { Issue.record("nothing left: the loop stops"); return }
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
        guard case .wait = queue.next(at: start) else { Issue.record("graces still run"); return }
        #expect(queue.gracesDue(at: start + .seconds(2)).isEmpty)
        #expect(queue.gracesDue(at: start + .seconds(3)) == ["ann", "bob"])
        #expect(queue.gracesDue(at: start + .seconds(4)).isEmpty, "each grace is due once")
        #expect(queue.hasWork)
        guard case .stop = queue.next(at: start) else { Issue.record("no grace left: the loop stops"); return }
    }

    @Test("a grace started again moves its end; once finished, submissions are refused and leftovers returned")
    func regraceAndFinish() {
        var queue = RegistryQueue<Request>(maxBatch: 10, shutdownPatience: .seconds(15))
        queue.graceStarted(for: ["ann"], endsAt: start + .seconds(1))
        queue.graceStarted(for: ["ann"], endsAt: start + .seconds(5))
        #expect(queue.gracesDue(at: start + .seconds(2)).isEmpty)
        _ = queue.submit(.close("c"), at: start)
        #expect(queue.finish().map(\.name) == ["c"])
        let refused = !queue.submit(.close("d"), at: start)
        #expect(refused)
        #expect(queue.isIdle)
    }

    /// A queue that has just committed a batch of two, so that it counts as busy.
    func busyQueue(linger: Duration, maxBatch: Int = 10) -> RegistryQueue<Request> {
        var queue = RegistryQueue<Request>(maxBatch: maxBatch, linger: linger, shutdownPatience: .seconds(15))
        _ = queue.submit(.open("w1"), at: start)
        _ = queue.submit(.open("w2"), at: start)
        #expect(names(queue.next(at: start)) == ["w1", "w2"])
        queue.batchCommitted()
        queue.batchEnded()
        return queue
    }

    @Test("a lone request never lingers: a quiet hub commits at once")
    func loneRequestGoesAtOnce() {
        var queue = RegistryQueue<Request>(maxBatch: 10, linger: .milliseconds(5), shutdownPatience: .seconds(15))
        _ = queue.submit(.open("a"), at: start)
        #expect(names(queue.next(at: start)) == ["a"], "the first batch has no busy batch before it")
        queue.batchCommitted()
        queue.batchEnded()
        _ = queue.submit(.open("b"), at: start + .milliseconds(1))
        #expect(names(queue.next(at: start + .milliseconds(1))) == ["b"], "the last batch was alone")
    }

    @Test("after a busy batch the next waits until its oldest request is linger old, then takes all that came")
    func busyBatchLingers() {
        var queue = busyQueue(linger: .milliseconds(5))
        _ = queue.submit(.open("a"), at: start + .milliseconds(1))
        guard case .lingerUntil(let deadline) = queue.next(at: start + .milliseconds(2)) else {
            Issue.record("a busy hub's batch lingers"); return
        }
        #expect(deadline == start + .milliseconds(6), "counted from the oldest submission, not from now")
        _ = queue.submit(.close("b"), at: start + .milliseconds(4))
        _ = queue.submit(.open("c"), at: start + .milliseconds(5))
        guard case .lingerUntil = queue.next(at: start + .milliseconds(5)) else { Issue.record("not yet due"); return }
        #expect(names(queue.next(at: deadline)) == ["a", "b", "c"])
    }

    @Test("a full batch, a stop or a zero linger goes at once")
    func nothingForcedToWait() {
        var full = busyQueue(linger: .milliseconds(5), maxBatch: 3)
        for name in ["a", "b", "c", "d"] { _ = full.submit(.open(name), at: start) }
        #expect(names(full.next(at: start)) == ["a", "b", "c"])
        full.batchEnded()
        guard case .lingerUntil(let deadline) = full.next(at: start) else { Issue.record("what a full batch left lingers"); return }
        #expect(deadline == start + .milliseconds(5), "no longer than its batch's oldest request would have")

        var stopping = busyQueue(linger: .milliseconds(5))
        _ = stopping.submit(.close("a"), at: start)
        stopping.stopRequested(now: start)
        #expect(names(stopping.next(at: start)) == ["a"])

        var off = busyQueue(linger: .zero)
        _ = off.submit(.close("a"), at: start)
        #expect(names(off.next(at: start)) == ["a"])
    }

    @Test("a retry after a failure does not linger")
    func retryGoesAtOnce() {
        var queue = busyQueue(linger: .milliseconds(5))
        _ = queue.submit(.close("a"), at: start)
        _ = queue.submit(.close("b"), at: start)
        let batch = queue.next(at: start + .milliseconds(5))
        #expect(names(batch) == ["a", "b"])
        _ = queue.batchFailed([.close("a"), .close("b")], now: start + .milliseconds(6))
        queue.batchEnded()
        #expect(names(queue.next(at: start + .milliseconds(106))) == ["a", "b"])
    }
}
