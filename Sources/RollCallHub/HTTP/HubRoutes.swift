import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import RollCall
import RollCallPostgres

/// The HTTP API of DESIGN.md §8 and the WebSocket endpoint.
struct HubRoutes {
    let hub: HubState

    /// Largest page of `GET /v1/users`.
    static let maxPageSize = 1000

    func add(to router: Router<HubRequestContext>) {
        router.get("healthz") { _, _ in json(["status": "ok"]) }
        router.get("readyz") { _, _ in
            guard hub.listening() else { throw APIError.unavailable("LISTEN is down: presence from other hubs is paused") }
            // Ready means what the upgrade gate decides: new sockets are accepted.
            // Answered from what the heartbeat and the writer last saw: a probe costs no query.
            guard hub.databaseAvailable else { throw APIError.unavailable("the database is unreachable") }
            return json(["status": "ready"])
        }
        router.get("metrics") { _, _ in
            hub.metrics.databaseUp.set(to: hub.databaseAvailable ? 1.0 : 0.0)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: hub.metrics.registry.emitToBuffer())))
        }

        let api = router.group("v1").add(middleware: AuthenticationMiddleware(authority: hub.authority))
        api.ws("ws") { _, _ in .upgrade([:]) } onUpgrade: { inbound, outbound, wsContext in
            let context = wsContext.requestContext
            guard let identity = context.identity else { return }
            let session = WebSocketSession(
                hub: hub, identity: identity,
                userAgent: wsContext.request.headers[.userAgent],
                remoteAddress: hub.configuration.trustedProxies.clientAddress(
                    peer: context.remoteAddress?.ipAddress, forwardedFor: wsContext.request.headers[values: .xForwardedFor]),
                resuming: wsContext.request.uri.queryParameters.get("resume").flatMap(ConnectionID.init),
                channel: context.channel)
            await session.run(inbound: inbound, outbound: outbound, logger: wsContext.logger)
        }
        api.get("presence", use: presence)
        api.get("users/:id", use: user)
        api.get("users/:id/connections", use: connections)
        api.get("users", use: onlineUsers)
        api.get("servers", use: servers)
        api.post("users/:id/messages", use: postMessage)
    }

    @Sendable func postMessage(_ request: Request, context: HubRequestContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let user = try context.userIDParameter()
        let limit = hub.configuration.maxMessageBytes
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit + 64)
        } catch {
            throw APIError(status: .contentTooLarge, code: .tooLarge, message: "the body is over \(limit) bytes")
        }
        struct Envelope: Decodable { let data: JSONValue }
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(buffer: body)) else {
            throw APIError.badRequest("the body must be {\"data\": ...}")
        }
        guard RollCallJSON.string(envelope.data).utf8.count <= limit else {
            throw APIError(status: .contentTooLarge, code: .tooLarge, message: "data is over \(limit) bytes")
        }
        // Nothing is delivered without the database, so the caller can simply retry.
        guard hub.databaseAvailable else { throw APIError.unavailable("the database is unreachable; nothing was delivered") }
        try await hub.writer.send(UserMessage(to: user, from: identity.userID, data: envelope.data, at: Date()))
        return json(["accepted": true], status: .accepted)
    }

    @Sendable func presence(_ request: Request, context: HubRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let users = (request.uri.queryParameters.get("users") ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        guard !users.isEmpty, users.count <= Self.maxPageSize else {
            throw APIError.badRequest("give 1 to \(Self.maxPageSize) user ids: ?users=alice,bob")
        }
        if let hidden = users.first(where: { !identity.mayWatch($0) }) {
            throw APIError.forbidden("this token may not watch \(hidden)")
        }
        return json(["users": try await hub.reader.presence(of: users)])
    }

    @Sendable func user(_ request: Request, context: HubRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let user = try context.userIDParameter()
        guard identity.mayWatch(user) else { throw APIError.forbidden("this token may not watch \(user)") }
        return json(try await hub.reader.presence(of: [user])[0])
    }

    @Sendable func connections(_ request: Request, context: HubRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let user = try context.userIDParameter()
        guard identity.mayInspect(user) else { throw APIError.forbidden("only \(user) or an admin may list these connections") }
        let all = request.uri.queryParameters.get("all") == "true"
        return json(["connections": try await hub.reader.connections(of: user, includeClosed: all)])
    }

    @Sendable func onlineUsers(_ request: Request, context: HubRequestContext) async throws -> Response {
        _ = try context.requireAdmin()
        let parameters = request.uri.queryParameters
        guard parameters.get("online") == "true" else {
            throw APIError.badRequest("only ?online=true is supported: the online users, paged by cursor")
        }
        let limit = parameters.get("limit").map { Int($0) } ?? 100
        guard let limit, (1...Self.maxPageSize).contains(limit) else {
            throw APIError.badRequest("limit must be 1 to \(Self.maxPageSize)")
        }
        let cursor = parameters.get("cursor")
        let users = try await hub.reader.onlineUsers(after: cursor, limit: limit)
        let next = users.count == limit ? users.last?.userID : nil
        return json(OnlinePage(users: users, nextCursor: next))
    }

    @Sendable func servers(_ request: Request, context: HubRequestContext) async throws -> Response {
        _ = try context.requireAdmin()
        return json(["servers": try await hub.reader.servers()])
    }
}

struct OnlinePage: Encodable {
    let users: [UserPresence]
    let nextCursor: String?

    enum CodingKeys: String, CodingKey { case users, nextCursor = "next_cursor" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(users, forKey: .users)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

/// A JSON response in RollCall's conventions (sorted keys, ISO 8601 times).
func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? RollCallJSON.encoder.encode(value)) ?? Data("{}".utf8)
    return Response(
        status: status, headers: [.contentType: "application/json; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

extension HubRequestContext {
    /// The `{id}` path segment, percent-decoded: a user id may hold any character, `/` and `%` included.
    func userIDParameter() throws -> String {
        let raw = try parameters.require("id")
        guard let user = raw.removingPercentEncoding else {
            throw APIError.badRequest("the user id in the path is not valid percent-encoded UTF-8")
        }
        guard Identity.isValidUserID(user) else {
            throw APIError.badRequest("a user id is 1 to \(Identity.maximumUserIDBytes) bytes of UTF-8")
        }
        return user
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
