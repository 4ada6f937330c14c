import Foundation

/// The JSON conventions of every RollCall payload: sorted keys, ISO 8601 times with milliseconds.
/// The encoder writes the HTTP API's `Codable` bodies; `JSONWriter` writes the payloads of `Wire/`
/// (frames, notifications) the same way.
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
