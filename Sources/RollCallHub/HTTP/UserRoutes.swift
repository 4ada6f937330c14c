import Foundation
import Hummingbird
import RollCall
import RollCallPostgres

/// `/v1/presence`, `/v1/users…`: presence, connection rows and messages, behind a token.
struct UserRoutes {
    let reader: RegistryReader
    let writer: RegistryWriter
    let maxMessageBytes: Int
    let databaseAvailable: @Sendable () -> Bool

    /// Most ids one `GET /v1/presence` may name, and the largest page of `GET /v1/users`.
    static let maxPageSize = 1000

    var routes: RouteCollection<HubRequestContext> {
        let routes = RouteCollection(context: HubRequestContext.self)
        routes.get("presence", use: presence)
        routes.get("users/:id", use: user)
        routes.get("users/:id/connections", use: connections)
        routes.get("users", use: onlineUsers)
        routes.post("users/:id/messages", use: postMessage)
        return routes
    }

    @Sendable func postMessage(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        let identity = try context.requireAdmin()
        let user = try context.userIDParameter()
        let limit = maxMessageBytes
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit + 64)
        } catch {
            throw APIError(status: .contentTooLarge, code: .tooLarge, message: "the body is over \(limit) bytes")
        }
        enum Key: String { case data }
        guard let envelope = try? JSONParser.parse(String(buffer: body)), let data = try? envelope.present(Key.data) else {
            throw APIError.badRequest("the body must be {\"data\": ...}")
        }
        guard data.json.utf8.count <= limit else {
            throw APIError(status: .contentTooLarge, code: .tooLarge, message: "data is over \(limit) bytes")
        }
        // Nothing is delivered without the database, so the caller can simply retry.
        guard databaseAvailable() else { throw APIError.unavailable("the database is unreachable; nothing was delivered") }
        guard !writer.isBacklogged else { throw APIError.busy }
        try await writer.send(UserMessage(to: user, from: identity.userID, data: data, at: Date()))
        return EditedResponse(status: .accepted, response: AcceptedBody(accepted: true))
    }

    @Sendable func presence(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        let identity = try context.requireIdentity()
        let users = (request.uri.queryParameters.get("users") ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        guard !users.isEmpty, users.count <= Self.maxPageSize else {
            throw APIError.badRequest("give 1 to \(Self.maxPageSize) user ids: ?users=alice,bob")
        }
        if let odd = users.first(where: { !Identity.isValidUserID($0) }) {
            throw APIError.badRequest("not a user id: \(odd.prefix(64).debugDescription)")
        }
        if let hidden = users.first(where: { !identity.mayWatch($0) }) {
            throw APIError.forbidden("this token may not watch \(hidden)")
        }
        return WrittenBody.users(try await reader.presence(of: users))
    }

    @Sendable func user(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        let identity = try context.requireIdentity()
        let user = try context.userIDParameter()
        guard identity.mayWatch(user) else { throw APIError.forbidden("this token may not watch \(user)") }
        return WrittenBody.presence(try await reader.presence(of: [user])[0])
    }

    @Sendable func connections(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        let identity = try context.requireIdentity()
        let user = try context.userIDParameter()
        guard identity.mayInspect(user) else { throw APIError.forbidden("only \(user) or an admin may list these connections") }
        let all = request.uri.queryParameters.get("all") == "true"
        return ConnectionsBody(connections: try await reader.connections(of: user, includeClosed: all))
    }

    @Sendable func onlineUsers(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
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
        if let cursor, !Identity.isValidUserID(cursor) {
            throw APIError.badRequest("cursor must be the next_cursor of a previous page (a user id)")
        }
        let users = try await reader.onlineUsers(after: cursor, limit: limit)
        let next = users.count == limit ? users.last?.userID : nil
        return WrittenBody.page(users, nextCursor: next)
    }
}
