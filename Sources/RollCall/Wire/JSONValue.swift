/// Any JSON value, kept as it came: the opaque `data` of a message, and every payload as parsed.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .number(JSONNumber(value))
        } else if let value = try? container.decode(Double.self) {
            self = .number(JSONNumber(value))
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if let integer = value.integer { try container.encode(integer) } else { try container.encode(value.double) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// What kind of JSON value this is, for error messages: "a number", "an object", ...
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A JSON number. A whole number is kept exactly as a 64-bit integer when it was written as one
/// (`9007199254740993` stays itself) or when a `Double` holds it exactly (below 2^53, so `2.0` is
/// the integer 2); any other number is a `Double`. That one rule decides what "a whole number"
/// means wherever a payload asks for one, and how a number is written back.
public struct JSONNumber: Sendable, Hashable, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, CustomStringConvertible {
    /// The number, when it is whole and exact.
    public let integer: Int64?
    /// The number as a `Double` (rounded for integers beyond 2^53).
    public let double: Double

    public init(_ value: Int64) {
        integer = value
        double = Double(value)
    }

    public init(_ value: Int) { self.init(Int64(value)) }

    public init(_ value: Double) {
        double = value
        integer = value.rounded() == value && abs(value) < Self.exactDoubleLimit ? Int64(value) : nil
    }

    public init(integerLiteral value: Int64) { self.init(value) }
    public init(floatLiteral value: Double) { self.init(value) }

    /// 2^53: from here on a `Double` no longer tells neighbouring integers apart.
    static let exactDoubleLimit: Double = 9_007_199_254_740_992

    public static func == (left: JSONNumber, right: JSONNumber) -> Bool {
        switch (left.integer, right.integer) {
        case let (left?, right?): left == right
        case (nil, nil): left.double == right.double
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        if let integer { hasher.combine(integer) } else { hasher.combine(double) }
    }

    /// The number as JSON text: integers without a fraction, other numbers as Swift writes a
    /// `Double` (`2.5`, `1e+20`), which JSON reads back as the same value.
    public var description: String {
        if let integer { return String(integer) }
        return double.isFinite ? "\(double)" : "null"
    }
}
