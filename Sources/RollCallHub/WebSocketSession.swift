import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import RollCall
import RollCallPostgres

/// One client socket from welcome to close: its row is written before the welcome and closed,
/// with the reason the socket showed, when it ends.
struct WebSocketSession {
    let hub: HubState
    let identity: Identity
    let userAgent: String?
    let remoteAddress: String?
    let channel: any Channel

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async {
        let connection = NewConnection(
            userID: identity.userID,
            userAgent: userAgent.map { String($0.prefix(hub.configuration.maxUserAgentLength)) },
            remoteAddress: remoteAddress)
        let logger = logger
            .with(metadata: "connection_id", "\(connection.connectionID)")
            .with(metadata: "user_id", "\(identity.userID)")

        let evidence = CloseEvidence()
        do {
            try await evidence.watch(channel)
            _ = try await hub.writer.open(connection)
        } catch {
            logger.warning("connection refused: registry unavailable", metadata: ["error": "\(error)"])
            hub.metrics.connectionsRefused.increment()
            try? await outbound.close(.init(codeNumber: 1013), reason: "registry unavailable, try again")
            return
        }
        hub.sockets.add(connection.connectionID, user: identity.userID, outbound: outbound)
        hub.metrics.connectionsOpened.increment()
        hub.metrics.connectionsOpen.increment()
        logger.info("connection opened", metadata: ["remote_addr": "\(remoteAddress ?? "-")"])

        var explicitReason: CloseReason?
        do {
            try await send(
                .welcome(
                    connectionID: connection.connectionID, userID: identity.userID, serverID: hub.configuration.serverID,
                    heartbeatMilliseconds: Int(hub.configuration.pingInterval.milliseconds), resumed: false),
                on: outbound)
            explicitReason = try await receive(inbound: inbound, outbound: outbound, logger: logger)
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
        if hub.sockets.isDraining { explicitReason = .serverShutdown }

        let reason = explicitReason ?? Self.reason(from: evidence)
        hub.sockets.remove(connection.connectionID)
        hub.metrics.connectionsOpen.decrement()
        hub.writer.close(connection.connectionID, reason: reason)
        logger.info("connection closed", metadata: ["close_reason": "\(reason.rawValue)"])
    }

    /// Reads frames until the socket ends; returns a reason when the hub itself ended it.
    private func receive(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async throws -> CloseReason? {
        var budget = FrameBudget(maxBadFrames: hub.configuration.maxBadFrames)
        let clock = ContinuousClock()
        let origin = clock.now
        for try await message in inbound.messages(maxSize: hub.configuration.maxMessageBytes) {
            let frame: ClientFrame
            let verdict: FrameBudget.Verdict
            var failure: ClientFrameError?
            switch message {
            case .text(let text):
                do {
                    frame = try ClientFrame.decode(text)
                    verdict = budget.admit(at: clock.now - origin)
                } catch {
                    failure = error
                    verdict = budget.admit(at: clock.now - origin, bad: true)
                    frame = .ping(id: nil)
                }
            case .binary:
                failure = ClientFrameError(id: nil, message: "frames must be JSON text")
                verdict = budget.admit(at: clock.now - origin, bad: true)
                frame = .ping(id: nil)
            }
            switch verdict {
            case .disconnect:
                hub.metrics.framesRejected.increment()
                logger.notice("connection closed for flooding or bad frames")
                try await send(.error(id: frame.id, code: .rateLimited, message: "too many bad or rapid frames"), on: outbound)
                try await outbound.close(.policyViolation, reason: "rate limited")
                return .protocolError
            case .reject:
                hub.metrics.framesRejected.increment()
                try await send(.error(id: frame.id, code: .rateLimited, message: "slow down"), on: outbound)
                continue
            case .accept:
                break
            }
            if let failure {
                hub.metrics.framesRejected.increment()
                try await send(.error(id: failure.id, code: .badRequest, message: failure.message), on: outbound)
                continue
            }
            try await handle(frame, outbound: outbound)
        }
        return nil
    }

    private func handle(_ frame: ClientFrame, outbound: WebSocketOutboundWriter) async throws {
        switch frame {
        case .ping(let id):
            try await send(.pong(id: id), on: outbound)
        case .subscribe(let id, _), .unsubscribe(let id, _), .send(let id, _, _):
            // Subscriptions and messages across hubs come with the LISTEN/NOTIFY work.
            try await send(.error(id: id, code: .unavailable, message: "not supported by this hub yet"), on: outbound)
        }
    }

    private func send(_ frame: ServerFrame, on outbound: WebSocketOutboundWriter) async throws {
        try await outbound.write(.text(frame.json()))
    }

    /// The reason a socket that the hub did not end on purpose closed.
    static func reason(from evidence: CloseEvidence) -> CloseReason {
        if let code = evidence.serverCloseCode, [1002, 1003, 1007, 1008, 1009].contains(code) {
            return .protocolError
        }
        // A client that says goodbye closed; one that vanished without a close frame is a dead peer.
        return evidence.clientSentClose ? .clientClosed : .timeout
    }
}
