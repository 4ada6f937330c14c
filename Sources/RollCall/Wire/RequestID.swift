/// The optional `id` a client puts on a frame, echoed in the answer: a string or a whole number.
public enum RequestID: Sendable, Hashable {
    case string(String)
    case number(Int64)

    /// A frame's `id` field: absent or null is no id; anything but a string or an exact whole
    /// number is refused with a message saying what it was.
    init?(json: JSONValue?) throws(JSONValue.FieldError) {
        switch json {
        case nil, .null?: return nil
        case .string(let value)?: self = .string(value)
        case .number(let number)?:
            guard let integer = number.integer else { throw JSONValue.FieldError(description: "\"id\" must be a string or a whole number") }
            self = .number(integer)
        case let other?: throw JSONValue.FieldError(description: "\"id\" must be a string or a whole number, not \(other.kind)")
        }
    }
}
