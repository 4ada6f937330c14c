import Foundation
import HummingbirdWebSocket
import Logging
import RollCall
import RollCallPostgres

/// What a client's frames do: ping, subscriptions, messages. Answers go to the socket's mailbox.
struct FrameHandler {
    let services: SocketServices
    let identity: Identity
    let connectionID: ConnectionID
    let mailbox: Mailbox
    let dialect: SocketDialect

    /// Most online users an admin feed's snapshot lists.
    static let maxSnapshotAll = 10_000

    /// Reads frames until the socket ends; returns a reason when the hub itself ended it.
    func receive(inbound: WebSocketInboundStream, log: SocketLog) async throws -> CloseReason? {
        var state = ReadState(socket: SocketState(identity: identity, maxBadFrames: services.settings.maxBadFrames))
        for try await message in inbound.messages(maxSize: services.settings.maxFrameBytes) {
            // Each message is handled in a call of its own: this loop's frame, which lives as
            // long as the socket, holds only the state between messages.
            if let end = try await handle(message, state: &state, log: log) { return end }
        }
        return nil
    }

    /// What the reading keeps between messages.
    private struct ReadState {
        var socket: SocketState
        var handshaken = false
        let origin = ContinuousClock.now
    }

    /// One message: its frames answered in order; a reason when the hub ends the socket for it.
    private func handle(_ message: WebSocketMessage, state: inout ReadState, log: SocketLog) async throws -> CloseReason? {
        for item in read(message, handshaken: &state.handshaken) {
            var frame: ClientFrame?
            var failure: ClientFrameError?
            switch item {
            case .frame(let read): frame = read
            case .bad(let error): failure = error
            case .nothing: break
            case .reply(let text):
                mailbox.yield(.text(text))
                continue
            case .refuse(let text):
                services.metrics.framesRejected.increment()
                mailbox.yield(.text(text))
                mailbox.yield(.close(.protocolError, reason: "handshake refused"))
                return .protocolError
            case .close:
                return .clientClosed
            }
            let id = frame?.id ?? failure?.id
            switch state.socket.frameArrived(at: ContinuousClock.now - state.origin, bad: failure != nil) {
            case .disconnect:
                services.metrics.framesRejected.increment()
                log(.notice, "connection closed for flooding or bad frames")
                mailbox.yield(.frame(.error(id: id, code: .rateLimited, message: "too many bad or rapid frames")))
                mailbox.yield(.close(.policyViolation, reason: "rate limited"))
                return .protocolError
            case .reject:
                services.metrics.framesRejected.increment()
                mailbox.yield(.frame(.error(id: id, code: .rateLimited, message: "slow down")))
                continue
            case .accept:
                break
            }
            if let failure {
                services.metrics.framesRejected.increment()
                mailbox.yield(.frame(.error(id: failure.id, code: .badRequest, message: failure.message)))
                continue
            }
            if let frame { try await handle(frame, socket: &state.socket, log: log) }
        }
        return nil
    }

    /// One read frame as this socket's dialect understands it.
    enum Item {
        case frame(ClientFrame)
        case bad(ClientFrameError)
        /// Read and metered, nothing to do (a SignalR ping).
        case nothing
        /// Answered as is, not metered (a SignalR handshake's answer).
        case reply(String)
        /// Answered as is, then the socket is closed (a handshake this hub cannot accept).
        case refuse(String)
        /// The client closes (a SignalR close record).
        case close
    }

    private func read(_ message: WebSocketMessage, handshaken: inout Bool) -> [Item] {
        guard case .text(let text) = message else {
            return [.bad(ClientFrameError(id: nil, message: "frames must be JSON text"))]
        }
        switch dialect {
        case .rollcall:
            do { return [.frame(try ClientFrame.decode(text))] } catch { return [.bad(error)] }
        case .signalR:
            return SignalR.read(text, handshaken: &handshaken).map { incoming in
                switch incoming {
                case .handshake(nil): .reply(SignalR.handshakeResponse(error: nil))
                case .handshake(let error?): .refuse(SignalR.handshakeResponse(error: error))
                case .frame(let frame): .frame(frame)
                case .refused(let invocationID, let error): .bad(ClientFrameError(id: invocationID.map(RequestID.string), message: error))
                case .ignored: .nothing
                case .close: .close
                }
            }
        }
    }

    private func handle(_ frame: ClientFrame, socket: inout SocketState, log: SocketLog) async throws {
        switch frame {
        case .ping(let id):
            mailbox.yield(.frame(.pong(id: id)))

        case .subscribe(let id, .users(let requested)):
            let (users, added): ([String], [String])
            switch socket.subscribe(requested) {
            case .refuse(let refusal): return refuse(id, refusal.code, refusal.message)
            case .watch(let all, let new): (users, added) = (all, new)
            }
            // Registered before the snapshot is read: a transition in between waits for the snapshot.
            mailbox.yield(.subscriber(.subscribing(users)))
            services.watchers.watch(users, by: connectionID, mailbox: mailbox)
            do {
                mailbox.yield(.subscriber(.snapshot(id: id, try await services.reader.presence(of: users))))
            } catch {
                // Only what this frame added is undone: users watched before stay watched.
                services.watchers.unwatch(added, by: connectionID)
                mailbox.yield(.subscriber(.unsubscribe(added)))
                socket.snapshotFailed(added: added)
                refuse(id, .unavailable, "the registry could not answer; try again")
            }

        case .subscribe(let id, .all):
            guard identity.isAdmin else { return refuse(id, .forbidden, "the all feed needs an admin token") }
            mailbox.yield(.subscriber(.subscribingAll))
            services.watchers.watchAll(by: connectionID, mailbox: mailbox)
            do {
                let online = try await services.reader.onlineUsers(after: nil, limit: Self.maxSnapshotAll)
                mailbox.yield(.subscriber(.snapshotAll(id: id, online)))
            } catch {
                services.watchers.unwatchAll(by: connectionID)
                mailbox.yield(.subscriber(.unsubscribeAll))
                refuse(id, .unavailable, "the registry could not answer; try again")
            }

        case .unsubscribe(let id, .users(let users)):
            services.watchers.unwatch(users, by: connectionID)
            mailbox.yield(.subscriber(.unsubscribe(users)))
            socket.unsubscribe(users)
            mailbox.yield(.frame(.ack(id: id, accepted: true)))

        case .unsubscribe(let id, .all):
            services.watchers.unwatchAll(by: connectionID)
            mailbox.yield(.subscriber(.unsubscribeAll))
            mailbox.yield(.frame(.ack(id: id, accepted: true)))

        case .send(let id, let to, let data):
            if let refusal = socket.maySend(to: to) { return refuse(id, refusal.code, refusal.message) }
            guard data.json.utf8.count <= services.settings.maxMessageBytes else {
                return refuse(id, .tooLarge, "data is over \(services.settings.maxMessageBytes) bytes")
            }
            let message = UserMessage(to: to, from: identity.userID, data: data, at: Date())
            // Without the database other hubs are out of reach; this hub's sockets are not. When the
            // outage is known, do not make the sender wait for the writer to find out again.
            guard services.databaseAvailable else { return deliverHereOnly(message, id: id, because: "database unavailable", log: log) }
            // Behind a backlog, this socket is not read until the writer has room (about 5 s at most
            // at a time): TCP slows its sender, and the hub holds no more messages than it can write soon.
            if services.writer.isBacklogged {
                services.metrics.messagesHeld.increment()
                let heldSince = ContinuousClock.now
                await services.writer.roomForMessages(within: .seconds(5))
                socket.held(for: .now - heldSince)
            }
            // Not awaited: the next frames are read (and metered) as they arrive, and a sender's
            // messages share batches. The answer comes when the batch commits, in sending order.
            services.writer.send(message) { [self] result in
                switch result {
                case .success: mailbox.yield(.frame(.ack(id: id, accepted: true)))
                case .failure(let error): deliverHereOnly(message, id: id, because: "\(error)", log: log)
                }
            }

        case .join, .roomState, .leave:
            await handleRoom(frame, socket: &socket)
        }
    }

    /// Joins, state changes and leaves: checked here, written by the writer, announced by every
    /// hub once committed. A join registers the socket in the room before it is written, so an
    /// event committed meanwhile waits for the snapshot (`RoomFeed`).
    private func handleRoom(_ frame: ClientFrame, socket: inout SocketState) async {
        let id = frame.id
        switch frame {
        case .join(_, let room, let given):
            let state: JSONValue
            switch Room.state(from: given) {
            case .success(let value): state = value
            case .failure(let problem): return refuse(id, problem.code, problem.description)
            }
            let wasIn = socket.rooms.contains(room)
            if let refusal = socket.join(room) { return refuse(id, refusal.code, refusal.message) }
            if !wasIn {
                mailbox.yield(.room(.joining(room)))
                services.rooms.add(room, for: connectionID, mailbox: mailbox)
            }
            let outcome = await change(.join(room: room, connectionID: connectionID, userID: identity.userID, state: state), id: id)
            guard case .joined(let snapshot) = outcome else {
                // A membership that still stands is not undone by a refused second join.
                if !wasIn { forget(room, socket: &socket, joining: true) }
                return
            }
            services.rooms.joined(room, at: snapshot.version)
            mailbox.yield(.room(.joined(id: id, snapshot)))
        case .roomState(_, let room, let given):
            let state: JSONValue
            switch Room.state(from: given) {
            case .success(let value): state = value
            case .failure(let problem): return refuse(id, problem.code, problem.description)
            }
            if let refusal = socket.mayChange(room) { return refuse(id, refusal.code, refusal.message) }
            switch await change(.setState(room: room, connectionID: connectionID, state: state), id: id) {
            case .done?: mailbox.yield(.frame(.ack(id: id, accepted: true)))
            case .refused?: forget(room, socket: &socket, joining: false)
            case .joined?, nil: break
            }
        case .leave(_, let room):
            if let refusal = socket.mayChange(room) { return refuse(id, refusal.code, refusal.message) }
            mailbox.yield(.room(.leaving(room)))
            switch await change(.leave(room: room, connectionID: connectionID), id: id) {
            case .done?:
                forget(room, socket: &socket, joining: false)
                mailbox.yield(.frame(.ack(id: id, accepted: true)))
            case .refused?: forget(room, socket: &socket, joining: false)
            case .joined?, nil: mailbox.yield(.room(.leaveFailed(room)))
            }
        default:
            return
        }
    }

    /// The socket is not in `room` (any more): a refused join, a leave, or a membership the
    /// database no longer has (a purge ended it while this hub was cut off; the writer refused
    /// the socket's change, and a new join is what it takes).
    private func forget(_ room: String, socket: inout SocketState, joining: Bool) {
        services.rooms.remove(room, for: connectionID)
        mailbox.yield(.room(joining ? .joinFailed(room) : .left(room)))
        socket.left(room)
    }

    /// Writes a room change; a refusal is answered here and returned, a failure answered here and nil.
    private func change(_ change: RoomChange, id: RequestID?) async -> RoomOutcome? {
        do {
            let outcome = try await services.writer.change(change)
            if case .refused(let why) = outcome { refuse(id, .badRequest, why) }
            return outcome
        } catch {
            refuse(id, .unavailable, "the registry could not write the room change; try again")
            return nil
        }
    }

    private func deliverHereOnly(_ message: UserMessage, id: RequestID?, because reason: String, log: SocketLog) {
        log(.warning, "message delivered on this hub only", ["to": "\(message.to)", "error": "\(reason)"])
        services.sockets.deliver(message)
        refuse(id, .unavailable, "the database is unreachable: delivered only to connections on this hub")
    }

    private func refuse(_ id: RequestID?, _ code: ErrorCode, _ message: String) {
        services.metrics.framesRejected.increment()
        mailbox.yield(.frame(.error(id: id, code: code, message: message)))
    }
}
