import Logging
import PostgresNIO
import RollCall
import RollCallPostgres

/// What every route and socket of one hub shares.
public struct HubState: Sendable {
    public let configuration: HubConfiguration
    public let writer: RegistryWriter
    public let reader: RegistryReader
    let authority: TokenAuthority
    let sockets: LiveSockets
    let watchers: WatchIndex
    let metrics: HubMetrics
    /// Whether the LISTEN connection is up (set once the listener exists).
    let listening: @Sendable () -> Bool
    let contact: DatabaseContact

    /// Whether the database takes writes: the heartbeat answers and the last batch went through.
    var databaseAvailable: Bool { contact.isAvailable }
}
