import PostgresNIO
import Synchronization

/// Work that did not finish within its time limit.
public struct DeadlinePassed: Error, CustomStringConvertible {
    public let limit: Duration
    public var description: String { "no answer within \(limit)" }
}

/// Runs `body`, throwing `DeadlinePassed` after `limit`. Cancellation alone cannot stop work that
/// ignores it, and the group waits for `body` to end: `onTimeout` is how a caller makes it end
/// (closing the connection the work waits on).
public func withDeadline<T: Sendable>(
    _ limit: Duration, onTimeout: @escaping @Sendable () -> Void = {}, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            onTimeout()
            throw DeadlinePassed(limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// The connection one attempt runs on, so that its deadline can close it.
final class ConnectionSlot: Sendable {
    private let connection = Mutex<PostgresConnection?>(nil)

    func use(_ connection: PostgresConnection) {
        self.connection.withLock { $0 = connection }
    }

    @Sendable func closeConnection() {
        if let connection = connection.withLock({ $0 }) {
            _ = connection.close() as EventLoopFuture<Void>
        }
    }
}
