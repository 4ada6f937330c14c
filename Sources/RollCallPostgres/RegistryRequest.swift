import Foundation
import RollCall

/// One thing asked of the writer: what to write, as a batch plan reads it, and how its caller
/// hears the outcome. Closes, graces and reopens have no reply: nobody waits for them.
struct RegistryRequest: Sendable, QueuedRequest {
    /// Called once: with the outcome of the batch that committed the request, or with the
    /// error that ended it.
    typealias Reply = @Sendable (Result<BatchOutcome, any Error>) -> Void

    let item: BatchPlan.Item
    let reply: Reply?

    var retriedAfterFailure: Bool { item.retriedAfterFailure }
}

/// Told whether a message was committed (and so published to every hub).
public typealias MessageCompletion = @Sendable (Result<Void, any Error>) -> Void

/// What one committed batch did, as its phases found it; each request's reply reads its part.
struct BatchOutcome: Sendable {
    var openedAt: [ConnectionID: Date] = [:]
    var closedByServer: [BatchPlan.ServerClose: Int] = [:]
    var transitions: [PresenceTransition] = []
    var connectionEvents: [ConnectionEvent] = []
    /// Each user's change of open connections in this batch, for the counters.
    var connectionDelta: [String: Int] = [:]
    /// Users whose last connection closed and whose offline waits for the grace.
    var graceStarted: [String] = []
    var purge: PurgeReport?
    var committedAt = Date()
    /// The answer to each room change, by its ticket.
    var roomOutcomes: [Int: RoomOutcome] = [:]
    var roomEvents: [RoomEvent] = []

    /// A row opened (or reopened): its event, and one more connection for its user.
    mutating func opened(_ event: ConnectionEvent) {
        connectionEvents.append(event)
        connectionDelta[event.userID, default: 0] += 1
    }

    /// A row closed: its event, and one connection fewer for its user.
    mutating func closed(_ event: ConnectionEvent) {
        connectionEvents.append(event)
        connectionDelta[event.userID, default: 0] -= 1
    }
}

/// What one orphan purge pass did.
public struct PurgeReport: Sendable, Equatable {
    /// Another hub held the purge lock; this pass did nothing.
    public var skipped = false
    /// Rows closed as `orphaned`, by dead hub.
    public var closedByServer: [String: Int] = [:]
    /// Users the purge took offline (theirs were the last connections).
    public var usersOffline = 0
    /// Offline graces finished that had run out without their hub.
    public var gracesFinished = 0

    public init(skipped: Bool = false) { self.skipped = skipped }

    public var rowsClosed: Int { closedByServer.values.reduce(0, +) }
}

/// What one committed batch did, for observers.
public struct CommitReport: Sendable {
    /// Opens, closes and bulk closes the transaction carried.
    public let requests: Int
    /// The transitions it decided, already sent with NOTIFY.
    public let transitions: [PresenceTransition]
}
