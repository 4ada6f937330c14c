import Logging
import RollCall

/// A socket's log: every line it writes carries the connection and user ids. They are added to
/// the lines written rather than stored in the logger, whose stored metadata is rendered again at
/// every change (twice per socket, whether or not the socket ever writes a line).
struct SocketLog: Sendable {
    let logger: Logger
    let connectionID: ConnectionID
    let userID: String

    /// The message and the metadata are built only for a line the level lets through: at `notice`
    /// and above a hub writes no line per socket, and builds none.
    func callAsFunction(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata = [:]) {
        logger.log(level: level, message(), metadata: metadata().merging(["connection_id": "\(connectionID)", "user_id": "\(userID)"]) { $1 })
    }
}
