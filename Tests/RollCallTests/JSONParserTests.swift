import Foundation
import RollCall
import Testing

/// The parser the hub reads every client frame and every message notification with.
@Suite("JSON read by hand", .timeLimit(.minutes(5)))
struct JSONParserTests {
    static let valid = [
        "null", "true", "false", "0", "-0", "-12", "3.25", "1e3", "-2.5E-3", "1E+2", "123456789012",
        #""""#, #""plain""#, #""a\"b\\c\/d\b\f\n\r\t""#, #""\u00e9\u0000\uD83D\uDC4B""#, "\"hé 👋\"",
        "[]", "{}", " \t\r\n[ 1 , \"x\" , null ] \n", #"{"a":{"b":[{"c":[]}]},"d":-1}"#, #"{"k":1,"k":2}"#,
    ]

    @Test("valid JSON reads as the JSON decoder reads it", arguments: valid)
    func agreesWithDecoder(_ text: String) throws {
        let expected = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(try JSONParser.parse(text) == expected)
    }

    static let invalid = [
        "", " ", "{", "}", "[1,]", "[,1]", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, "[1 2]", "1 2", "01", "-01", "1.", ".5", "-",
        "1e", "1e+", "+1", "tru", "nul", "True", "NaN", "Infinity", "1e400", #""\x""#, "\"\u{01}\"", #""\ud800""#,
        #""\udc00x""#, #""\ud800\u0041""#, #""\u12""#, #""abc"#, "\"tab\there\"", "[" + String(repeating: "[", count: 200) + "]",
    ]

    @Test("anything else is refused", arguments: invalid)
    func refuses(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(text) }
    }

    @Test("nesting up to the limit reads; one level more is refused")
    func depth() throws {
        let deepest = String(repeating: "[", count: JSONParser.maximumDepth) + String(repeating: "]", count: JSONParser.maximumDepth)
        #expect(throws: Never.self) { try JSONParser.parse(deepest) }
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse("[" + deepest + "]") }
    }

    @Test("what the hub writes reads back as the same value, for many generated values")
    func roundTrip() throws {
        var generator = Generator(seed: 7)
        for _ in 0..<500 {
            let value = generator.value(depth: 0)
            #expect(try JSONParser.parse(value.json) == value)
        }
    }

    /// Deterministic values of every kind, with awkward strings and numbers.
    struct Generator {
        var state: UInt64
        init(seed: UInt64) { state = seed }

        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }

        mutating func value(depth: Int) -> JSONValue {
            switch next(depth > 3 ? 4 : 6) {
            case 0: return .null
            case 1: return .bool(next(2) == 0)
            case 2: return .number([0, -1, 0.5, 1e-9, 123_456.75, -9_007_199_254_740_991, 6.02e23][next(7)])
            case 3: return .string(string())
            case 4: return .array((0..<next(4)).map { _ in value(depth: depth + 1) })
            default:
                var fields: [String: JSONValue] = [:]
                for _ in 0..<next(4) { fields[string()] = value(depth: depth + 1) }
                return .object(fields)
            }
        }

        mutating func string() -> String {
            let pieces = ["a", "Z", " ", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "é", "€", "👋", "\u{FFFF}"]
            return (0..<next(6)).map { _ in pieces[next(pieces.count)] }.joined()
        }
    }
}
