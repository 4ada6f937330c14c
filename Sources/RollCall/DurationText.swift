/// Durations as operators type them: `500ms`, `15s`, `1.5s`, `1m30s`, `2h`, `30d`.
///
/// A duration is one or more `<number><unit>` parts, the number a whole or decimal value and the
/// unit one of `ms`, `s`, `m`, `h`, `d` (Go's and Prometheus's spelling); the parts add up. A bare
/// `0` is zero, as in Go: the one number that means the same in every unit.
public enum DurationText {
    public struct Invalid: Error, CustomStringConvertible {
        public let text: String
        /// The text reads as a duration but is longer than `DurationText.maximum`.
        public var tooLong = false

        public var description: String {
            tooLong
                ? "'\(text)' is too long: durations go up to \(DurationText.format(DurationText.maximum))"
                : "'\(text)' is not a duration: use numbers with ms, s, m, h or d, e.g. 500ms, 1.5s, 1m30s, 2h, 30d"
        }
    }

    /// The longest duration accepted: ten years.
    public static let maximum = Duration.seconds(10 * 365 * 86_400)

    private static let nanosecondsPerUnit: [(suffix: Substring, nanoseconds: Int64)] = [
        // "ms" before "m", so that the longer spelling wins.
        ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000), ("d", 86_400_000_000_000),
    ]

    public static func parse(_ text: String) throws(Invalid) -> Duration {
        var rest = Substring(text.trimmingWhitespace())
        guard !rest.isEmpty else { throw Invalid(text: text) }
        if rest == "0" { return .zero }
        var total: Int64 = 0
        while !rest.isEmpty {
            let whole = rest.prefix { $0.isASCII && $0.isNumber }
            rest = rest.dropFirst(whole.count)
            var fraction: Substring = ""
            if rest.first == "." {
                fraction = rest.dropFirst().prefix { $0.isASCII && $0.isNumber }
                rest = rest.dropFirst(1 + fraction.count)
            }
            guard !(whole.isEmpty && fraction.isEmpty),
                let unit = nanosecondsPerUnit.first(where: { rest.hasPrefix($0.suffix) })
            else { throw Invalid(text: text) }
            rest = rest.dropFirst(unit.suffix.count)
            guard let part = nanoseconds(whole: whole, fraction: fraction, unit: unit.nanoseconds) else { throw Invalid(text: text, tooLong: true) }
            let (sum, overflow) = total.addingReportingOverflow(part)
            guard !overflow else { throw Invalid(text: text, tooLong: true) }
            total = sum
        }
        let duration = Duration.nanoseconds(total)
        guard duration <= maximum else { throw Invalid(text: text, tooLong: true) }
        return duration
    }

    /// `whole.fraction` units in nanoseconds; nil on overflow. Digits past a nanosecond are dropped.
    private static func nanoseconds(whole: Substring, fraction: Substring, unit: Int64) -> Int64? {
        var value: Int64 = 0
        for digit in whole {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(digit.wholeNumberValue!))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        let (scaled, overflow) = value.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        var total = scaled
        var place = unit
        for digit in fraction {
            place /= 10
            if place == 0 { break }
            total += Int64(digit.wholeNumberValue!) * place
        }
        return total
    }

    /// The shortest exact spelling of a duration in one unit, e.g. `90s`, `1500ms`.
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
