import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import RollCall
import RollCallPostgres

/// One client socket from welcome to close: its row is written before the welcome and closed,
/// with the reason the socket showed, when it ends. Frames the client sends are handled in order
/// by the socket's one task; everything the socket receives goes through its mailbox, which
/// writes on the socket's event loop.
struct WebSocketSession {
    let services: SocketServices
    let identity: Identity
    let userAgent: String?
    let remoteAddress: String?
    /// The connection this one resumes (`?resume=`), if any.
    let resuming: ConnectionID?
    let channel: any Channel
    var dialect: SocketDialect = .rollcall
    /// The row's id when the client chose it (a SignalR client's negotiated `connectionId`).
    var connectionID: ConnectionID?

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async {
        services.sockets.census.sessionBegins()
        defer { services.sockets.census.sessionEnds() }
        // Three steps, so that what waits for the whole life of the socket (this function's
        // frame) holds one reference: a held idle socket costs that much less memory.
        guard let socket = await open(outbound: outbound, logger: logger) else { return }
        let explicitReason: CloseReason?
        do {
            explicitReason = try await socket.frames.receive(inbound: inbound, log: socket.log)
        } catch {
            socket.log(.debug, "connection ended with an error", ["error": "\(error)"])
            explicitReason = nil
        }
        await close(socket, explicitReason: explicitReason)
    }

    /// What an open socket keeps until it closes.
    private final class OpenSocket: Sendable {
        let connectionID: ConnectionID
        let log: SocketLog
        let evidence: CloseEvidence
        let mailbox: Mailbox
        let frames: FrameHandler
        let expiry: Scheduled<Void>?
        let keepAlive: RepeatedTask?

        init(
            connectionID: ConnectionID, log: SocketLog, evidence: CloseEvidence, mailbox: Mailbox, frames: FrameHandler,
            expiry: Scheduled<Void>?, keepAlive: RepeatedTask?
        ) {
            self.connectionID = connectionID
            self.log = log
            self.evidence = evidence
            self.mailbox = mailbox
            self.frames = frames
            self.expiry = expiry
            self.keepAlive = keepAlive
        }
    }

    /// Writes the socket's row, registers it and sends the welcome; nil when the registry could
    /// not take the row (the socket is then closed with 1013).
    private func open(outbound: WebSocketOutboundWriter, logger: Logger) async -> OpenSocket? {
        let connection = NewConnection(
            connectionID: connectionID ?? ConnectionID(),
            userID: identity.userID,
            userAgent: userAgent.map { $0.truncated(toUTF8Bytes: services.settings.maxUserAgentBytes) },
            remoteAddress: remoteAddress)
        let log = SocketLog(logger: logger, connectionID: connection.connectionID, userID: identity.userID)

        let evidence = CloseEvidence()
        evidence.watch(channel)
        let resumed: Bool
        do {
            _ = try await services.writer.open(connection)
            // The new row is open before the old one closes: the user never drops to zero.
            resumed = try await closeResumed()
        } catch {
            log(.warning, "connection refused: registry unavailable", ["error": "\(error)"])
            // An attempt that timed out may still have committed the row: close it (closes are idempotent).
            services.writer.close(connection.connectionID, reason: .timeout)
            services.metrics.connectionsRefused.increment()
            try? await outbound.close(.init(codeNumber: 1013), reason: "registry unavailable, try again")
            return nil
        }

        let channel = channel
        let metrics = services.metrics
        let budget = services.settings.maxOutboundBytes
        let mailbox = Mailbox(channel: channel, outbound: outbound, dialect: dialect, budget: budget) {
            metrics.slowReadersClosed.increment()
            log(.warning, "connection closed: it does not read what it is sent", ["budget_bytes": "\(budget)"])
            Self.closeForSlowReading(channel)
        }
        services.sockets.add(connection.connectionID, user: identity.userID, outbound: outbound, mailbox: mailbox, dialect: dialect)
        services.metrics.connectionsOpened.increment()
        services.metrics.connectionsOpen.increment()
        log(.info, "connection opened", ["remote_addr": "\(remoteAddress ?? "-")", "resumed": "\(resumed)"])
        mailbox.yield(
            .frame(
                .welcome(
                    connectionID: connection.connectionID, userID: identity.userID, serverID: services.settings.serverID,
                    heartbeatMilliseconds: Int(services.settings.pingInterval.milliseconds), resumed: resumed)))

        // SignalR clients take 30 s without a record for a dead connection: ping them every 15 s.
        let keepAlive =
            dialect == .signalR
            ? channel.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(15), delay: .seconds(15)) { _ in mailbox.yield(.text(SignalR.ping)) }
            : nil
        // The token's expiry is a timer on the socket's event loop, not a task of its own.
        let expiry = identity.expiresAt.map { expiry in
            channel.eventLoop.scheduleTask(in: .milliseconds(max(0, Int64(expiry.timeIntervalSinceNow * 1000)))) {
                mailbox.yield(.close(.init(codeNumber: Self.tokenExpiredCode), reason: "token_expired"))
            }
        }
        return OpenSocket(
            connectionID: connection.connectionID, log: log, evidence: evidence, mailbox: mailbox,
            frames: FrameHandler(services: services, identity: identity, connectionID: connection.connectionID, mailbox: mailbox, dialect: dialect),
            expiry: expiry, keepAlive: keepAlive)
    }

    /// Forgets the socket and closes its row with the reason it ended for.
    private func close(_ socket: OpenSocket, explicitReason: CloseReason?) async {
        socket.keepAlive?.cancel()
        socket.expiry?.cancel()
        let watched = await socket.mailbox.finish()
        var explicitReason = explicitReason
        if services.sockets.isDraining { explicitReason = .serverShutdown }
        if socket.mailbox.hasOverflowed { explicitReason = .kicked }

        let reason = explicitReason ?? Self.reason(from: socket.evidence)
        services.watchers.remove(socket.connectionID, watching: watched)
        services.rooms.remove(socket.connectionID)
        services.sockets.remove(socket.connectionID)
        services.metrics.connectionsOpen.decrement()
        services.writer.close(socket.connectionID, reason: reason)
        socket.log(.info, "connection closed", ["close_reason": "\(reason.rawValue)"])
    }

    /// Closes the row of the connection this one resumes, if it is this user's and still open.
    private func closeResumed() async throws -> Bool {
        guard let resuming, let old = try await services.reader.connection(resuming), old.userID == identity.userID else { return false }
        if old.connected { services.writer.close(resuming, reason: .clientClosed) }
        return true
    }

    /// A socket past its budget is not reading: a close frame (1013) goes behind what it has not
    /// read, in case it ever does, and the connection is cut a second later either way.
    private static func closeForSlowReading(_ channel: any Channel) {
        var payload = channel.allocator.buffer(capacity: 64)
        payload.write(webSocketErrorCode: .init(codeNumber: 1013))
        payload.writeString("too slow: outbound budget exceeded")
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload), promise: nil)
        channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }

    /// A socket lives no longer than the token that opened it: at its `exp` the hub closes it with
    /// 4001 `token_expired` (the client reconnects with a fresh token; its row closes as `kicked`).
    static let tokenExpiredCode = 4001

    /// The reason a socket that the hub did not end on purpose closed.
    static func reason(from evidence: CloseEvidence) -> CloseReason {
        if let code = evidence.serverCloseCode, [1002, 1003, 1007, 1008, 1009].contains(code) {
            return .protocolError
        }
        if evidence.serverCloseCode == UInt16(tokenExpiredCode) { return .kicked }
        // A client that says goodbye closed; one that vanished without a close frame is a dead peer.
        return evidence.clientSentClose ? .clientClosed : .timeout
    }
}
