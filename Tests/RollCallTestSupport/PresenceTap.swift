import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import Synchronization

/// What the hubs of the tests sign their notifications with (`TestHub.secret`).
public let testSeal = NotifySeal(secret: TestHub.secret)

/// LISTENs on `rollcall_presence` like a hub would and keeps every transition it hears.
public final class PresenceTap: Sendable {
    private let heard = Mutex<[PresenceTransition]>([])
    private let roomsHeard = Mutex<[RoomEvent]>([])
    private let payloadsHeard = Mutex<[String]>([])

    public init() {}

    public var transitions: [PresenceTransition] { heard.withLock { $0 } }
    /// Every room event, in the order heard.
    public var roomEvents: [RoomEvent] { roomsHeard.withLock { $0 } }
    /// Every payload as it came, sealed.
    public var rawPayloads: [String] { payloadsHeard.withLock { $0 } }
    public var payloads: [Int] { rawPayloads.map(\.utf8.count) }

    public func transitions(of user: String) -> [PresenceTransition] {
        transitions.filter { $0.userID == user }
    }

    /// Listens while `body` runs; LISTEN is in place before `body` starts, so nothing is missed.
    /// A body that counts transitions waits for them with `eventually`: they arrive after commit.
    public func listen<T: Sendable>(_ location: DatabaseLocation, while body: @Sendable () async throws -> T) async throws -> T {
        try await DatabaseAdmin.withConnection(to: location, logger: testLogger) { connection in
            try await connection.listen(on: "rollcall_presence") { notifications in
                try await withThrowingTaskGroup(of: T?.self) { group in
                    group.addTask {
                        for try await notification in notifications {
                            self.payloadsHeard.withLock { $0.append(notification.payload) }
                            let opened = try testSeal.open(notification.payload, channel: "rollcall_presence")
                            let batch = try PresenceNotification.decode(String(opened.json))
                            self.heard.withLock { $0.append(contentsOf: batch.events) }
                            self.roomsHeard.withLock { $0.append(contentsOf: batch.rooms) }
                        }
                        return nil
                    }
                    let result = try await body()
                    group.cancelAll()
                    return result
                }
            }
        }
    }
}
