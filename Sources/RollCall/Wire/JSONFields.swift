import Foundation

/// The keys of one payload, spelled once: an enum whose raw values are the JSON keys, named by
/// the payload's writer and its reader alike.
public typealias JSONKey = RawRepresentable<String>

/// Reading the fields of a parsed object: what a payload must hold, or an error naming what it lacks.
extension JSONValue {
    public struct FieldError: Error, Sendable, CustomStringConvertible {
        public let description: String

        public init(description: String) { self.description = description }
    }

    /// The value at `key`, nil when absent or null.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let fields) = self, let value = fields[key], value != .null else { return nil }
        return value
    }

    public subscript(key: some JSONKey) -> JSONValue? { self[key.rawValue] }

    public func string(_ key: some JSONKey) throws(FieldError) -> String {
        guard case .string(let value)? = self[key] else { throw missing(key, "a string") }
        return value
    }

    public func optionalString(_ key: some JSONKey) throws(FieldError) -> String? {
        guard self[key] != nil else { return nil }
        return try string(key)
    }

    public func bool(_ key: some JSONKey) throws(FieldError) -> Bool {
        guard case .bool(let value)? = self[key] else { throw missing(key, "true or false") }
        return value
    }

    /// A whole number, exactly (see `JSONNumber`).
    public func int(_ key: some JSONKey) throws(FieldError) -> Int64 {
        guard case .number(let number)? = self[key], let integer = number.integer else { throw missing(key, "a whole number") }
        return integer
    }

    public func date(_ key: some JSONKey) throws(FieldError) -> Date {
        guard let date = RollCallJSON.parse(try string(key)) else { throw missing(key, "an ISO 8601 time") }
        return date
    }

    public func optionalDate(_ key: some JSONKey) throws(FieldError) -> Date? {
        guard self[key] != nil else { return nil }
        return try date(key)
    }

    /// The elements at `key`; none when absent.
    public func array(_ key: some JSONKey) throws(FieldError) -> [JSONValue] {
        switch self[key] {
        case nil: return []
        case .array(let values)?: return values
        case _?: throw missing(key, "an array")
        }
    }

    /// Any value, null included, but present.
    public func present(_ key: some JSONKey) throws(FieldError) -> JSONValue {
        guard case .object(let fields) = self, let value = fields[key.rawValue] else {
            throw FieldError(description: "\"\(key.rawValue)\" is missing")
        }
        return value
    }

    /// A value of a closed set, such as an event kind or a close reason.
    public func choice<Choice: RawRepresentable<String>>(_ key: some JSONKey, of type: Choice.Type = Choice.self) throws(FieldError) -> Choice {
        let text = try string(key)
        guard let choice = Choice(rawValue: text) else { throw FieldError(description: "\"\(key.rawValue)\" has an unknown value \"\(text)\"") }
        return choice
    }

    public func optionalChoice<Choice: RawRepresentable<String>>(_ key: some JSONKey, of type: Choice.Type = Choice.self) throws(FieldError)
        -> Choice?
    {
        guard self[key] != nil else { return nil }
        return try choice(key, of: type)
    }

    public func connectionID(_ key: some JSONKey) throws(FieldError) -> ConnectionID {
        guard let id = ConnectionID(try string(key)) else { throw FieldError(description: "\"\(key.rawValue)\" must be a UUID") }
        return id
    }

    private func missing(_ key: some JSONKey, _ kind: String) -> FieldError {
        FieldError(description: "\"\(key.rawValue)\" must be \(kind)")
    }
}
