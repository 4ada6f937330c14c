import RollCall
import Testing

@Suite("Durations as operators type them")
struct DurationTextTests {
    @Test("every documented unit", arguments: [
        ("500ms", Duration.milliseconds(500)), ("15s", .seconds(15)), ("10m", .seconds(600)),
        ("2h", .seconds(7200)), ("30d", .seconds(30 * 86400)), ("0s", .zero),
    ])
    func parses(text: String, expected: Duration) throws {
        #expect(try DurationText.parse(text) == expected)
        #expect(try DurationText.parse(DurationText.format(expected)) == expected)
    }

    @Test("anything else is refused with an example", arguments: ["", "10", "ten s", "-5s", "1.5h", "3w"])
    func refuses(text: String) {
        #expect(throws: DurationText.Invalid.self) { try DurationText.parse(text) }
    }
}
