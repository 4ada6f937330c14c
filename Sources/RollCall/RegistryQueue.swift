/// A request the registry writer queues: whether a batch that failed for want of the database
/// keeps it for the next attempt (a close must never be lost) or answers it at once (an open's
/// client is waiting and can retry itself).
public protocol QueuedRequest: Sendable {
    var retriedAfterFailure: Bool { get }
}

/// The registry writer's queue as a state machine, without I/O: what is pending, what the next
/// batch is, what a failure does, when to stop, which offline graces are due. The writer feeds it
/// events and carries out what it returns; the time is always passed in.
///
/// Batching is group commit: what arrives while a transaction is in flight is the next one. Under
/// load, a batch may also *linger*: when the last batch had company (more than one request), the
/// next waits until its oldest request is `linger` old, so that one transaction carries more rows.
/// A lone request never waits, so a quiet hub answers as fast as with no linger at all.
public struct RegistryQueue<Request: QueuedRequest>: Sendable {
    public let maxBatch: Int
    /// Longest a request waits for company once the hub is busy; zero turns lingering off.
    public let linger: Duration
    /// How long a stopping writer keeps retrying an unreachable database.
    public let shutdownPatience: Duration
    public let backoff: Backoff

    /// Submitted requests; those before `head` were taken already. Taking a batch moves `head`
    /// instead of shifting what is left, so a backlog of many thousands costs no more per batch
    /// than a short queue; the taken front is dropped once it is at least half the storage.
    private var requests: [Request] = []
    private var head = 0
    /// Requests submitted and not yet taken, oldest first.
    private var pending: ArraySlice<Request> { requests[head...] }
    public var pendingCount: Int { requests.count - head }
    /// Batches' worth of pending requests past which the writer is backlogged.
    public static var backlogBatches: Int { 4 }
    /// More is waiting than the next `backlogBatches` transactions can take. New messages then wait
    /// (a socket is not read, an HTTP sender is answered 429) rather than queue: one queued behind
    /// that much would arrive late anyway, and its sender can slow down. Opens, closes and the rest
    /// never wait for it.
    public var isBacklogged: Bool { pendingCount >= maxBatch * Self.backlogBatches }
    public private(set) var inFlight = false
    public private(set) var stopping = false
    /// When shutdown began: past `shutdownPatience` an unreachable database is given up on.
    public private(set) var stoppingSince: ContinuousClock.Instant?
    /// The run loop has ended: nothing submitted now would ever be written.
    public private(set) var finished = false
    public private(set) var consecutiveFailures = 0
    public private(set) var committedTransactions = 0
    /// When the oldest pending request was submitted.
    private var pendingSince: ContinuousClock.Instant?
    /// How many requests the last batch taken carried: more than one means the hub is busy.
    private var lastBatchSize = 0
    /// When each user's offline grace runs out, on this hub's clock.
    private var graceDeadlines: [String: ContinuousClock.Instant] = [:]

    public init(maxBatch: Int, linger: Duration = .zero, shutdownPatience: Duration, backoff: Backoff = Backoff()) {
        self.maxBatch = max(1, maxBatch)
        self.linger = max(.zero, linger)
        self.shutdownPatience = shutdownPatience
        self.backoff = backoff
    }

    /// Queues `request`, submitted at `now`; false once the queue has finished (the caller must
    /// answer it itself).
    public mutating func submit(_ request: Request, at now: ContinuousClock.Instant) -> Bool {
        guard !finished else { return false }
        if pendingCount == 0 { pendingSince = now }
        requests.append(request)
        return true
    }

    public enum Next: Sendable {
        case batch([Request])
        /// Nothing to write now: wait for a submission, a grace or a stop.
        case wait
        /// Work is pending but lingers for company: take the next batch at this instant (a
        /// submission need not wake the writer before then).
        case lingerUntil(ContinuousClock.Instant)
        /// Stopping, nothing pending and no grace running: the run loop may end.
        case stop
    }

    /// The next batch at `now`, up to `maxBatch` requests in submission order.
    public mutating func next(at now: ContinuousClock.Instant) -> Next {
        if pendingCount > 0 {
            if let deadline = lingerDeadline, now < deadline { return .lingerUntil(deadline) }
            let end = head + min(maxBatch, pendingCount)
            let batch = Array(requests[head..<end])
            head = end
            // What a full batch left keeps the deadline it had: none of it waits longer than that.
            if pendingCount == 0 { pendingSince = nil }
            if head >= requests.count / 2 {
                requests.removeFirst(head)
                head = 0
            }
            lastBatchSize = batch.count
            inFlight = true
            return .batch(batch)
        }
        // Stopping waits out running graces, so their offline transitions are still published.
        return stopping && graceDeadlines.isEmpty ? .stop : .wait
    }

    /// When the pending requests may go, if they linger: only while the hub is busy (the last
    /// batch had company), and never once a batch is full or the writer is stopping.
    private var lingerDeadline: ContinuousClock.Instant? {
        guard linger > .zero, lastBatchSize > 1, !stopping, pendingCount < maxBatch, let since = pendingSince else { return nil }
        return since + linger
    }

    /// Whether everything submitted so far has been written (or the queue has finished).
    public var isIdle: Bool { finished || (pendingCount == 0 && !inFlight) }

    /// Whether the run loop, waiting, has something to do.
    public var hasWork: Bool { pendingCount > 0 || (stopping && graceDeadlines.isEmpty) }

    public mutating func batchCommitted() {
        committedTransactions += 1
        consecutiveFailures = 0
    }

    /// The batch is done with, committed or not.
    public mutating func batchEnded() {
        inFlight = false
    }

    public struct Failure: Sendable {
        /// Requests to answer with the error now.
        public var failFast: [Request]
        /// Requests given up on (and graces dropped): stopping, past the patience.
        public var abandoned: [Request]
        public var abandonedGraces: Int
        /// Pause before the next attempt; nil when nothing was kept.
        public var retryAfter: Duration?
    }

    /// A batch failed for want of the database: what waits answers now, what must not be lost
    /// goes back to the head of the queue, unless the queue is stopping and out of patience.
    public mutating func batchFailed(_ batch: [Request], now: ContinuousClock.Instant) -> Failure {
        consecutiveFailures += 1
        // After a failure nothing lingers: a retry goes as soon as its pause is over.
        lastBatchSize = 0
        let kept = batch.filter(\.retriedAfterFailure)
        var failure = Failure(failFast: batch.filter { !$0.retriedAfterFailure }, abandoned: [], abandonedGraces: 0, retryAfter: nil)
        guard !kept.isEmpty else { return failure }
        if let since = stoppingSince, now - since > shutdownPatience {
            failure.abandoned = kept + pending
            failure.abandonedGraces = graceDeadlines.count
            requests = []
            head = 0
            pendingSince = nil
            graceDeadlines = [:]
            return failure
        }
        requests.replaceSubrange(..<head, with: kept)
        head = 0
        pendingSince = pendingSince ?? now
        failure.retryAfter = backoff.delay(afterFailures: consecutiveFailures)
        return failure
    }

    /// Shutdown began: an unreachable database is retried for `shutdownPatience` from now on.
    public mutating func shutdownBegins(now: ContinuousClock.Instant) {
        stoppingSince = stoppingSince ?? now
    }

    /// Write what is pending (and let running graces finish), then stop.
    public mutating func stopRequested(now: ContinuousClock.Instant) {
        stopping = true
        shutdownBegins(now: now)
    }

    /// The run loop ended: returns what was still pending, to be answered as never written.
    public mutating func finish() -> [Request] {
        finished = true
        pendingSince = nil
        defer { requests = []; head = 0 }
        return Array(pending)
    }

    /// Remembers when the grace of users whose last connection just closed runs out.
    public mutating func graceStarted(for users: [String], endsAt deadline: ContinuousClock.Instant) {
        for user in users { graceDeadlines[user] = deadline }
    }

    /// Users whose grace ran out by `now`, sorted; they are forgotten here.
    public mutating func gracesDue(at now: ContinuousClock.Instant) -> [String] {
        let due = graceDeadlines.filter { $0.value <= now }.map(\.key).sorted()
        for user in due { graceDeadlines[user] = nil }
        return due
    }
}
