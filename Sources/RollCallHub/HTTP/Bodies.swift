import Foundation
import Hummingbird
import RollCall
import RollCallPostgres

/// The JSON bodies of the HTTP API (docs/protocol.md): records and statuses are `Codable`; what
/// holds wire payloads (users' presence) is a `WrittenBody`, written as frames are.
struct StatusBody: ResponseEncodable {
    let status: String
}

struct AcceptedBody: ResponseEncodable {
    let accepted: Bool
}

struct ConnectionsBody: ResponseEncodable {
    let connections: [ConnectionRecord]
}

/// A page of rooms; `next_cursor` is null on the last page.
struct RoomsBody: ResponseEncodable {
    let rooms: [RoomSummary]
    let nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case rooms
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rooms, forKey: .rooms)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

struct ServersBody: ResponseEncodable {
    let servers: [ServerRecord]
}

/// A body of wire payloads, written by `JSONWriter` in the conventions of every other body.
struct WrittenBody: ResponseGenerator {
    let text: String

    func response(from request: Request, context: some RequestContext) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    enum Key: String { case nextCursor = "next_cursor", users }

    /// `{"users": [...]}`.
    static func users(_ users: [UserPresence]) -> WrittenBody {
        written { $0.field(Key.users) { $0.array(users) { json, user in user.write(to: &json) } } }
    }

    /// A page of online users; `next_cursor` is always there, `null` on the last page.
    static func page(_ users: [UserPresence], nextCursor: String?) -> WrittenBody {
        written { json in
            json.field(Key.nextCursor) { if let nextCursor { $0.string(nextCursor) } else { $0.null() } }
            json.field(Key.users) { $0.array(users) { json, user in user.write(to: &json) } }
        }
    }

    static func room(_ snapshot: RoomSnapshot) -> WrittenBody {
        WrittenBody(text: snapshot.json)
    }

    static func presence(_ user: UserPresence) -> WrittenBody {
        var writer = JSONWriter()
        user.write(to: &writer)
        return WrittenBody(text: writer.text)
    }

    private static func written(_ fields: (inout JSONWriter) -> Void) -> WrittenBody {
        var writer = JSONWriter()
        writer.object(fields)
        return WrittenBody(text: writer.text)
    }
}

/// Connections open in each minute of the last day (with a change), for the dashboard's chart.
struct ConcurrencyBody: ResponseEncodable {
    struct Minute: Encodable {
        let minute: Date
        let connections: Int
    }

    let minutes: [Minute]
}
