import Foundation
import Hummingbird
import RollCall
import RollCallPostgres

/// `/v1/rooms…`: who is in a room now, and which rooms have members.
struct RoomRoutes {
    let reader: RegistryReader

    /// The largest page of `GET /v1/rooms`.
    static let maxPageSize = 1000
    static let defaultPageSize = 100

    var routes: RouteCollection<HubRequestContext> {
        let routes = RouteCollection(context: HubRequestContext.self)
        routes.get("rooms/:room", use: room)
        routes.get("rooms", use: rooms)
        return routes
    }

    /// The room's members grouped by user, as a `room` frame lists them, for a token that may join it.
    @Sendable func room(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        let identity = try context.requireIdentity()
        guard let room = try context.parameters.require("room").removingPercentEncoding else {
            throw APIError.badRequest("the room name in the path is not valid percent-encoded UTF-8")
        }
        if let problem = Room.problem(withName: room) { throw APIError.badRequest(problem) }
        guard identity.mayEnter(room) else { throw APIError.forbidden("this token may not join room \(room)") }
        return WrittenBody.room(try await reader.room(room))
    }

    /// Rooms with members now, by name: `?prefix=doc-` (admin).
    @Sendable func rooms(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        _ = try context.requireAdmin()
        let query = request.uri.queryParameters
        let prefix = query.get("prefix") ?? ""
        guard prefix.utf8.count <= Room.maxNameBytes, !prefix.utf8.contains(0) else {
            throw APIError.badRequest("a prefix is at most \(Room.maxNameBytes) bytes, without NUL")
        }
        let limit = query.get("limit").map { Int($0) } ?? Self.defaultPageSize
        guard let limit, (1...Self.maxPageSize).contains(limit) else {
            throw APIError.badRequest("limit is a whole number from 1 to \(Self.maxPageSize)")
        }
        let cursor = query.get("cursor")
        if let cursor, cursor.utf8.contains(0) { throw APIError.badRequest("a cursor has no NUL") }
        let rooms = try await reader.rooms(prefix: prefix, after: cursor, limit: limit)
        return RoomsBody(rooms: rooms, nextCursor: rooms.count == limit ? rooms.last?.room : nil)
    }
}
