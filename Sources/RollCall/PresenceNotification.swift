import Foundation

/// The payload of `NOTIFY rollcall_presence`: one hub's batch of transitions, and the connection
/// events of the same batch (for admin feeds).
public struct PresenceNotification: Sendable, Equatable, Codable {
    public let server: String
    public let events: [PresenceTransition]
    public let connections: [ConnectionEvent]

    public init(server: String, events: [PresenceTransition], connections: [ConnectionEvent] = []) {
        self.server = server
        self.events = events
        self.connections = connections
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        server = try container.decode(String.self, forKey: .server)
        events = try container.decodeIfPresent([PresenceTransition].self, forKey: .events) ?? []
        connections = try container.decodeIfPresent([ConnectionEvent].self, forKey: .connections) ?? []
    }

    /// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
    public static let payloadLimit = 7999

    /// The batch as JSON payloads, each under `limit` bytes, order kept.
    public static func payloads(
        server: String, events: [PresenceTransition], connections: [ConnectionEvent] = [], limit: Int = payloadLimit
    ) -> [String] {
        NotifyPayloads.pack(
            fixed: [("server", RollCallJSON.string(server))],
            arrays: [("events", events.map(\.json)), ("connections", connections.map(\.json))],
            limit: limit)
    }
}

/// Packs JSON pieces into as few objects under a byte limit as possible, keeping their order.
/// A piece that could not fit under the limit even alone is left out: no payload ever reaches
/// the limit, so one oversized event can never fail the transaction that carries the others.
public enum NotifyPayloads {
    public static func pack(fixed: [(key: String, json: String)], arrays: [(key: String, pieces: [String])], limit: Int) -> [String] {
        let fixedPart = fixed.map { "\"\($0.key)\":\($0.json)" }.joined(separator: ",")
        var payloads: [String] = []
        var current: [(key: String, pieces: [String])] = []
        var size = 0

        func render() -> String {
            let parts = current.map { "\"\($0.key)\":[\($0.pieces.joined(separator: ","))]" } + (fixedPart.isEmpty ? [] : [fixedPart])
            return "{" + parts.joined(separator: ",") + "}"
        }
        func reset() {
            current = []
            size = fixedPart.utf8.count + 2
        }
        reset()
        for (key, pieces) in arrays {
            for piece in pieces {
                guard fixedPart.utf8.count + 2 + piece.utf8.count + key.utf8.count + 6 <= limit else { continue }
                let opensArray = current.last?.key != key
                let added = piece.utf8.count + (opensArray ? key.utf8.count + 6 : 1)
                if size + added > limit, !current.isEmpty {
                    payloads.append(render())
                    reset()
                }
                if current.last?.key == key {
                    current[current.count - 1].pieces.append(piece)
                    size += piece.utf8.count + 1
                } else {
                    current.append((key, [piece]))
                    size += piece.utf8.count + key.utf8.count + 6
                }
            }
        }
        if !current.isEmpty { payloads.append(render()) }
        return payloads
    }
}

/// The JSON conventions of every RollCall payload: sorted keys, ISO 8601 times with milliseconds.
public enum RollCallJSON {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(format(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let string = try decoder.singleValueContainer().decode(String.self)
            guard let date = parse(string) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 time: \(string)"))
            }
            return date
        }
        return decoder
    }()

    /// One value as JSON text; for RollCall's own plain values encoding cannot fail.
    public static func string(_ value: some Encodable) -> String {
        String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func format(_ date: Date) -> String { date.formatted(style) }

    public static func parse(_ string: String) -> Date? {
        (try? style.parse(string)) ?? (try? Date.ISO8601FormatStyle().parse(string))
    }
}
