import Foundation
import Hummingbird
import RollCall
import RollCallPostgres

/// The JSON bodies of the HTTP API (docs/protocol.md), one type each.
struct StatusBody: ResponseEncodable {
    let status: String
}

struct AcceptedBody: ResponseEncodable {
    let accepted: Bool
}

struct UsersBody: ResponseEncodable {
    let users: [UserPresence]
}

struct ConnectionsBody: ResponseEncodable {
    let connections: [ConnectionRecord]
}

struct ServersBody: ResponseEncodable {
    let servers: [ServerRecord]
}

/// A page of online users; `next_cursor` is always there, `null` on the last page.
struct OnlinePage: ResponseEncodable {
    let users: [UserPresence]
    let nextCursor: String?

    enum CodingKeys: String, CodingKey { case users, nextCursor = "next_cursor" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(users, forKey: .users)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

extension UserPresence: ResponseEncodable {}

/// Connections open in each minute of the last day (with a change), for the dashboard's chart.
struct ConcurrencyBody: ResponseEncodable {
    struct Minute: Encodable {
        let minute: Date
        let connections: Int
    }

    let minutes: [Minute]
}
