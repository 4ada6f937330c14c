import Foundation

/// The payload of `NOTIFY rollcall_presence`: one hub's batch of transitions.
public struct PresenceNotification: Sendable, Equatable, Codable {
    public let server: String
    public let events: [PresenceTransition]

    public init(server: String, events: [PresenceTransition]) {
        self.server = server
        self.events = events
    }

    /// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
    public static let payloadLimit = 7999

    /// The transitions as JSON payloads, each under `limit` bytes, events kept in order.
    public static func payloads(server: String, events: [PresenceTransition], limit: Int = payloadLimit) -> [String] {
        let encoder = RollCallJSON.encoder
        let head = #"{"events":["#
        let tail = "],\"server\":" + String(decoding: try! encoder.encode(server), as: UTF8.self) + "}"
        var payloads: [String] = []
        var current = ""
        for event in events {
            let piece = String(decoding: try! encoder.encode(event), as: UTF8.self)
            let separator = current.isEmpty ? "" : ","
            if !current.isEmpty, head.utf8.count + current.utf8.count + separator.utf8.count + piece.utf8.count + tail.utf8.count > limit {
                payloads.append(head + current + tail)
                current = piece
            } else {
                current += separator + piece
            }
        }
        if !current.isEmpty { payloads.append(head + current + tail) }
        return payloads
    }

    public static func decode(_ payload: String) throws -> PresenceNotification {
        try RollCallJSON.decoder.decode(PresenceNotification.self, from: Data(payload.utf8))
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

    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func format(_ date: Date) -> String { date.formatted(style) }

    public static func parse(_ string: String) -> Date? {
        (try? style.parse(string)) ?? (try? Date.ISO8601FormatStyle().parse(string))
    }
}
