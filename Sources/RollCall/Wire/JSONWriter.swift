import Foundation

/// JSON text written field by field, for what the hub writes per socket and per event: the same
/// conventions as `RollCallJSON.encoder` (keys in sorted order, absent optionals left out,
/// ISO 8601 times with milliseconds), without an encoder's per-value machinery.
/// Each payload's file in `Wire/` writes its keys in sorted order itself.
public struct JSONWriter {
    public private(set) var text: String
    /// Whether the next value or key follows another in the same object or array.
    private var needsComma = false

    public init(capacity: Int = 128) {
        text = ""
        text.reserveCapacity(capacity)
    }

    /// `{`, the fields `body` writes, `}`.
    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        text.append("{")
        needsComma = false
        body(&self)
        text.append("}")
        needsComma = true
    }

    /// `[`, one value per element, `]`.
    public mutating func array<Elements: Sequence>(_ elements: Elements, _ element: (inout JSONWriter, Elements.Element) -> Void) {
        separate()
        text.append("[")
        needsComma = false
        for value in elements { element(&self, value) }
        text.append("]")
        needsComma = true
    }

    /// The key of the next value.
    public mutating func key(_ key: String) {
        string(key)
        text.append(":")
        needsComma = false
    }

    public mutating func string(_ value: String) {
        separate()
        text.append("\"")
        // Almost every string needs no escape: appended whole.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            text.append(value)
        } else {
            for scalar in value.unicodeScalars { escape(scalar) }
        }
        text.append("\"")
        needsComma = true
    }

    public mutating func int<Integer: BinaryInteger>(_ value: Integer) { raw(String(value)) }

    public mutating func bool(_ value: Bool) { raw(value ? "true" : "false") }

    public mutating func null() { raw("null") }

    public mutating func date(_ value: Date) { string(RollCallJSON.format(value)) }

    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let bool): self.bool(bool)
        case .number(let number): raw(number.description)
        case .string(let string): self.string(string)
        case .array(let values): array(values) { $0.value($1) }
        case .object(let fields):
            object { writer in
                for (key, field) in fields.sorted(by: { $0.key < $1.key }) {
                    writer.key(key)
                    writer.value(field)
                }
            }
        }
    }

    // Fields: a key and its value; the optional ones leave out an absent value, key and all.

    public mutating func field(_ key: some JSONKey, _ value: String) { self.key(key.rawValue); string(value) }
    public mutating func field(_ key: some JSONKey, _ value: Int) { self.key(key.rawValue); int(value) }
    public mutating func field(_ key: some JSONKey, _ value: Int64) { self.key(key.rawValue); int(value) }
    public mutating func field(_ key: some JSONKey, _ value: Bool) { self.key(key.rawValue); bool(value) }
    public mutating func field(_ key: some JSONKey, _ value: Date) { self.key(key.rawValue); date(value) }
    public mutating func field(_ key: some JSONKey, _ value: JSONValue) { self.key(key.rawValue); self.value(value) }
    public mutating func field(_ key: some JSONKey, _ value: some JSONKey) { self.key(key.rawValue); string(value.rawValue) }

    public mutating func field(_ key: some JSONKey, _ value: String?) {
        if let value { field(key, value) }
    }

    public mutating func field(_ key: some JSONKey, _ value: Date?) {
        if let value { field(key, value) }
    }

    public mutating func field(_ key: some JSONKey, _ value: (some JSONKey)?) {
        if let value { field(key, value.rawValue) }
    }

    public mutating func field(_ key: some JSONKey, _ value: RequestID?) {
        switch value {
        case .string(let id): field(key, id)
        case .number(let id): field(key, id)
        case nil: break
        }
    }

    /// A field whose value is an array or object written by `body`.
    public mutating func field(_ key: some JSONKey, _ body: (inout JSONWriter) -> Void) {
        self.key(key.rawValue)
        body(&self)
    }

    private mutating func raw(_ literal: String) {
        separate()
        text.append(literal)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { text.append(",") }
    }

    private mutating func escape(_ scalar: Unicode.Scalar) {
        switch scalar {
        case "\"": text.append("\\\"")
        case "\\": text.append("\\\\")
        case "\n": text.append("\\n")
        case "\r": text.append("\\r")
        case "\t": text.append("\\t")
        case "\u{08}": text.append("\\b")
        case "\u{0C}": text.append("\\f")
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
        default: text.unicodeScalars.append(scalar)
        }
    }
}

extension JSONValue {
    /// The value as JSON text (keys sorted).
    public var json: String {
        var writer = JSONWriter()
        writer.value(self)
        return writer.text
    }
}
