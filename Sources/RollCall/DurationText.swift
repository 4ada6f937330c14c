/// Durations as operators type them: `500ms`, `15s`, `10m`, `2h`, `30d`.
public enum DurationText {
    public struct Invalid: Error, CustomStringConvertible {
        public let text: String
        public var description: String { "'\(text)' is not a duration: use a whole number with ms, s, m, h or d, e.g. 500ms, 15s, 10m, 2h, 30d" }
    }

    public static func parse(_ text: String) throws(Invalid) -> Duration {
        let units: [(suffix: String, seconds: Int64, milliseconds: Int64)] = [
            ("ms", 0, 1), ("s", 1, 0), ("m", 60, 0), ("h", 3600, 0), ("d", 86400, 0),
        ]
        let trimmed = text.trimmingWhitespace()
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            let number = trimmed.dropLast(unit.suffix.count)
            guard let value = Int64(number), value >= 0 else { throw Invalid(text: text) }
            return unit.milliseconds > 0 ? .milliseconds(value) : .seconds(value * unit.seconds)
        }
        throw Invalid(text: text)
    }

    /// The shortest exact spelling of a duration, e.g. `90s`, `1500ms`.
    public static func format(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        for (suffix, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms != 0 && ms % size == 0 {
            return "\(ms / size)\(suffix)"
        }
        return "\(ms)ms"
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    public var timeInterval: Double { Double(milliseconds) / 1000 }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
